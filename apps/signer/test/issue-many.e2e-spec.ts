/**
 * A coalesced issuance job (certificate.issueMany) whose multi-row INSERT fails because of one item:
 * the others are stored and answered, the failing items fail alone with an answer that is not retried,
 * and nothing of theirs is half-written (issue 18, finding 2). Jobs go straight onto the queue, past the
 * gateway's validation, to the built signer with the run's PostgreSQL and Redis.
 */
import { CreateCaJob, IssueCertificateJob, SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { SignerClient } from '@signet/service';
import { RunningService, startSigner, stopService } from '@signet/testing';
import { Queue } from 'bullmq';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';

const actor = { type: 'system' as const, id: null, name: null, ip: null };

describe('certificate.issueMany with items the database refuses', () => {
  let signer: RunningService;
  let client: SignerClient;
  let db: Client;
  let orgId: string;
  let caId: string;

  beforeAll(async () => {
    signer = await startSigner();
    client = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX: process.env.QUEUE_PREFIX as string });
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    orgId = (await db.query(`INSERT INTO orgs (name, slug) VALUES ('Isolation', $1) RETURNING id`, [`iso-${randomBytes(4).toString('hex')}`])).rows[0].id;
    const ca: CreateCaJob = {
      caId: randomUUID(), orgId, name: 'Isolation root', subject: { commonName: 'Isolation Root' }, keyAlgorithm: 'ECDSA-P256', validityDays: 365, actor,
    };
    caId = (await client.run(SIGNER_JOBS.createCa, ca, `test-ca-${ca.caId}`)).caId;
  });
  afterAll(async () => {
    await client?.onApplicationShutdown();
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  const item = (commonName: string, more: Partial<IssueCertificateJob> = {}): IssueCertificateJob => {
    const certificateId = randomUUID();
    return {
      issuanceKey: `issue-${randomUUID()}`, certificateId, orgId, caId, mode: 'managed', commonName, sans: { dns: [], ip: [], email: [], uri: [] },
      keyAlgorithm: 'ECDSA-P256', validityDays: 30, usage: 'server', extendedKeyUsage: ['serverAuth'], autoRenew: false, renewalThresholdDays: 30,
      storeKey: false, actor, ...more,
    };
  };

  it('stores and answers the good items; each bad one fails alone, once, and leaves no rows', async () => {
    const kept = item('kept.example.test');
    await client.run(SIGNER_JOBS.issueMany, { items: [kept] }, `test-many-${randomUUID()}`);
    const items = [
      item('good-0.example.test'),
      item('nul-notes.example.test', { notes: 'a\u0000b' }),
      item('good-1.example.test'),
      // Stored as text it would become U+FFFD; the audit event's jsonb refuses it.
      item('lone-\ud800.example.test'),
      // Another certificate's id: its row cannot be inserted, whatever it holds.
      item('twin-id.example.test', { certificateId: kept.certificateId }),
      item('good-2.example.test', { notes: 'fine' }),
    ];
    const jobId = `test-many-${randomUUID()}`;
    const { outcomes } = await client.run(SIGNER_JOBS.issueMany, { items }, jobId);

    expect(outcomes[0]).toEqual({ certificateId: items[0].certificateId });
    expect(outcomes[2]).toEqual({ certificateId: items[2].certificateId });
    expect(outcomes[5]).toEqual({ certificateId: items[5].certificateId });
    expect(outcomes[1]).toEqual({ error: expect.objectContaining({ code: 'validation_failed', details: { fields: [expect.objectContaining({ field: 'notes' })] } }) });
    expect(outcomes[3]).toEqual({ error: expect.objectContaining({ code: 'validation_failed', details: { fields: [expect.objectContaining({ field: 'commonName' })] } }) });
    expect(outcomes[4]).toEqual({ error: expect.objectContaining({ code: 'internal' }) });

    // Rows, OCSP answers and audit events of the good items, none of the bad ones'.
    const ids = items.map((i) => i.certificateId);
    const rows = async (sql: string) => (await db.query(sql, [ids])).rows.map((r) => r.id as string).sort();
    const good = [items[0], items[2], items[5]].map((i) => i.certificateId).sort();
    expect(await rows(`SELECT id FROM certificates WHERE id = ANY($1) AND issuance_key <> '${kept.issuanceKey}'`)).toEqual(good);
    expect(await rows(`SELECT certificate_id AS id FROM ocsp_responses WHERE certificate_id = ANY($1) AND certificate_id <> '${kept.certificateId}'`)).toEqual(good);
    expect(await rows(`SELECT resource_id AS id FROM audit_events WHERE event_type = 'certificate.issue' AND resource_id = ANY($1::text[]) AND resource_id <> '${kept.certificateId}'`)).toEqual(good);
    expect((await db.query(`SELECT count(*)::int AS n FROM certificates WHERE issuance_key = ANY($1)`, [items.map((i) => i.issuanceKey)])).rows[0].n).toBe(3);
    // The twin's id still names the certificate it belonged to, with its one audit event.
    expect((await db.query(`SELECT common_name FROM certificates WHERE id = $1`, [kept.certificateId])).rows[0].common_name).toBe('kept.example.test');

    // Answered in one attempt: the job completed, it was not failed and retried.
    const queue = new Queue(SIGNER_QUEUE, { connection: { url: process.env.REDIS_URL }, prefix: process.env.QUEUE_PREFIX });
    try {
      const job = await queue.getJob(jobId);
      expect(await job?.getState()).toBe('completed');
      expect(job?.failedReason).toBeFalsy();
    } finally {
      await queue.close();
    }
  });
});
