/**
 * A coalesced issuance job (certificate.issueMany) whose multi-row INSERT fails because of one item:
 * the others are stored and answered, the failing items fail alone with an answer that is not retried,
 * and nothing of theirs is half-written (issue 18, finding 2). Every outcome carries its row as stored, a
 * retried item's included: the producers answer with it and read nothing back. Jobs go straight onto the
 * queue, past the gateway's validation, to the built signer with the run's PostgreSQL and Redis.
 */
import { certificatesById, createDataSourceOptions, issuedCertificateOf } from '@signet/persistence';
import { CreateCaJob, IssueCertificateJob, SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { SignerClient } from '@signet/service';
import { RunningService, startSigner, stopService } from '@signet/testing';
import { Queue } from 'bullmq';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';

const actor = { type: 'system' as const, id: null, name: null, ip: null };

describe('certificate.issueMany with items the database refuses', () => {
  let signer: RunningService;
  let client: SignerClient;
  let db: Client;
  let dataSource: DataSource;
  let manager: EntityManager;
  let orgId: string;
  let caId: string;

  beforeAll(async () => {
    signer = await startSigner();
    client = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX: process.env.QUEUE_PREFIX as string });
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    dataSource = await new DataSource(createDataSourceOptions(process.env.DATABASE_URL as string, { poolSize: 1 })).initialize();
    manager = dataSource.manager;
    orgId = (await db.query(`INSERT INTO orgs (name, slug) VALUES ('Isolation', $1) RETURNING id`, [`iso-${randomBytes(4).toString('hex')}`])).rows[0].id;
    const ca: CreateCaJob = {
      caId: randomUUID(), orgId, name: 'Isolation root', subject: { commonName: 'Isolation Root' }, keyAlgorithm: 'ECDSA-P256', validityDays: 365, actor,
    };
    caId = (await client.run(SIGNER_JOBS.createCa, ca, `test-ca-${ca.caId}`)).caId;
  });
  afterAll(async () => {
    await client?.onApplicationShutdown();
    await db?.end();
    await dataSource?.destroy();
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

    for (const i of [0, 2, 5]) expect(outcomes[i]).toEqual({ certificateId: items[i].certificateId, certificate: expect.objectContaining({ id: items[i].certificateId }) });
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

  /** The row as a producer read it back before outcomes carried it (libs/persistence certificatesById). */
  const storedRow = async (id: string) => issuedCertificateOf((await certificatesById(manager, [id])).get(id)!);

  it('answers each item with its row as stored, and a retried item with the row it already has', async () => {
    const subject = { organization: 'Outcome Org', country: 'DE', locality: 'Berlin' };
    const items = [item('outcome-0.example.test', { subject, notes: 'first', storeKey: true }), item('outcome-1.example.test', { autoRenew: true, storeKey: true, validityDays: 10 })];
    const { outcomes } = await client.run(SIGNER_JOBS.issueMany, { items }, `test-many-${randomUUID()}`);
    for (const [i, outcome] of outcomes.entries()) {
      if ('error' in outcome) throw new Error(outcome.error.message);
      // Every field, in the stored row's key order (the subject as jsonb orders it), DER included.
      expect(JSON.stringify(outcome.certificate)).toBe(JSON.stringify(await storedRow(items[i].certificateId)));
    }
    expect(outcomes[0]).toMatchObject({ certificate: { hasStoredKey: true, notes: 'first', subject: { commonName: 'outcome-0.example.test', ...subject } } });

    // The same items again (a job retried after its commit): nothing new, the same rows answered, now as they are stored.
    await db.query(`UPDATE certificates SET notes = 'changed since' WHERE id = $1`, [items[1].certificateId]);
    const again = await client.run(SIGNER_JOBS.issueMany, { items: [...items].reverse() }, `test-many-${randomUUID()}`);
    expect(again.outcomes).toEqual([
      { certificateId: items[1].certificateId, certificate: await storedRow(items[1].certificateId) },
      { certificateId: items[0].certificateId, certificate: (outcomes[0] as { certificate: unknown }).certificate },
    ]);
    expect(again.outcomes[0]).toMatchObject({ certificate: { notes: 'changed since' } });
    expect((await db.query(`SELECT count(*)::int AS n FROM certificates WHERE issuance_key = ANY($1)`, [items.map((i) => i.issuanceKey)])).rows[0].n).toBe(2);
  });
});
