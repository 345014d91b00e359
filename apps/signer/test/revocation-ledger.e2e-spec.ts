/**
 * The revocation retry ledger: a revocation records, in its own transaction, which job committed it
 * (revocation_ledger). A revoke job retried after its first attempt committed finds its own row there
 * and completes as the first attempt would have; any other job on a subject already revoked gets
 * already_revoked, retried or not; a retried job whose first attempt never committed revokes as usual.
 * For a leaf and an intermediate CA alike. Jobs go straight onto a queue of this file's own, to the built
 * signer with the run's PostgreSQL and Redis; a first attempt "dies" in a stand-in worker while no signer runs.
 */
import { CreateCaJob, IssueCertificateJob, RevokeCaJob, RevokeCertificateJob, SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { SignerClient, closeRedis, createRedis } from '@signet/service';
import { RunningService, startSigner, stopService } from '@signet/testing';
import { Job, Queue, Worker } from 'bullmq';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';

const actor = { type: 'system' as const, id: null, name: 'ledger-test', ip: null };

describe('revocation retry ledger', () => {
  const prefix = `${process.env.QUEUE_PREFIX}-ledger`;
  const signerEnv = { QUEUE_PREFIX: prefix, MASTER_KEY: randomBytes(32).toString('base64') };
  let signer: RunningService | undefined;
  let client: SignerClient;
  let queue: Queue;
  let db: Client;
  let orgId: string;
  let rootId: string;

  beforeAll(async () => {
    signer = await startSigner(signerEnv);
    client = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX: prefix });
    queue = new Queue(SIGNER_QUEUE, { connection: { url: process.env.REDIS_URL }, prefix });
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    orgId = (await db.query(`INSERT INTO orgs (name, slug) VALUES ('Ledger', $1) RETURNING id`, [`ledger-${randomBytes(4).toString('hex')}`])).rows[0].id;
    rootId = await createCa('Ledger Root');
  });
  afterAll(async () => {
    await client?.onApplicationShutdown();
    await queue?.close();
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  async function createCa(commonName: string, parentCaId?: string): Promise<string> {
    const job: CreateCaJob = { caId: randomUUID(), orgId, name: commonName, subject: { commonName }, keyAlgorithm: 'ECDSA-P256', validityDays: parentCaId ? 180 : 365, parentCaId, actor };
    return (await client.run(SIGNER_JOBS.createCa, job, `test-ca-${job.caId}`)).caId;
  }

  async function issue(commonName: string): Promise<string> {
    const job: IssueCertificateJob = {
      issuanceKey: `issue-${randomUUID()}`, certificateId: randomUUID(), orgId, caId: rootId, mode: 'managed', commonName,
      sans: { dns: [], ip: [], email: [], uri: [] }, keyAlgorithm: 'ECDSA-P256', validityDays: 30, usage: 'server', extendedKeyUsage: ['serverAuth'],
      autoRenew: false, renewalThresholdDays: 30, storeKey: false, actor,
    };
    return (await client.run(SIGNER_JOBS.issueCertificate, job, `test-issue-${job.certificateId}`)).certificateId;
  }

  const ledger = async (subjectId: string) =>
    (await db.query(`SELECT subject_kind, job_id, committed_at FROM revocation_ledger WHERE subject_id = $1`, [subjectId])).rows;
  const revokeEvents = async () =>
    (await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND event_type IN ('certificate.revoke', 'ca.revoke')`, [orgId])).rows[0].n as number;

  /** The job's end (completed or failed for good), within a deadline. */
  async function settled(job: Job): Promise<{ state: string; failedReason?: string; returnvalue: unknown }> {
    const deadline = Date.now() + 20_000;
    let state = await job.getState();
    while (state !== 'completed' && state !== 'failed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      state = await job.getState();
    }
    const done = (await queue.getJob(job.id!))!;
    return { state, failedReason: done.failedReason, returnvalue: done.returnvalue };
  }

  it('a retried job whose revocation committed completes; another job gets already_revoked; a retry that never committed revokes', async () => {
    const leafId = await issue('ledger-leaf.example.test');
    const laterLeafId = await issue('ledger-later.example.test');
    const intermediateId = await createCa('Ledger Intermediate', rootId);

    // First attempts that commit: each revocation's ledger row names its job, and so does its audit event.
    const leafJob: RevokeCertificateJob = { certificateId: leafId, orgId, reason: 'keyCompromise', actor };
    const caJob: RevokeCaJob = { caId: intermediateId, orgId, reason: 'cessationOfOperation', actor };
    const leafJobId = `test-revoke-${leafId}`;
    const caJobId = `test-revoke-ca-${intermediateId}`;
    const leafRevoked = await client.run(SIGNER_JOBS.revokeCertificate, leafJob, leafJobId);
    const caRevoked = await client.run(SIGNER_JOBS.revokeCa, caJob, caJobId);
    expect(await ledger(leafId)).toEqual([{ subject_kind: 'certificate', job_id: leafJobId, committed_at: expect.any(Date) }]);
    expect(await ledger(intermediateId)).toEqual([{ subject_kind: 'ca', job_id: caJobId, committed_at: expect.any(Date) }]);
    const audit = (await db.query(`SELECT resource_id, details->>'jobId' AS job_id FROM audit_events WHERE resource_id = ANY($1) AND event_type LIKE '%.revoke'`, [[leafId, intermediateId]])).rows;
    expect(audit).toEqual(expect.arrayContaining([{ resource_id: leafId, job_id: leafJobId }, { resource_id: intermediateId, job_id: caJobId }]));
    const eventsBefore = await revokeEvents();

    // The same jobs run again, beside other jobs for the same subjects and one for a leaf not revoked yet.
    // Each one's first attempt, taken while no signer runs, fails the way a dead signer's would.
    await stopService(signer!, 5000);
    signer = undefined;
    for (const id of [leafJobId, caJobId]) await (await queue.getJob(id))?.remove();
    const retry = { attempts: 3, backoff: { type: 'fixed' as const, delay: 2000 } };
    const jobs = {
      leafAgain: await queue.add(SIGNER_JOBS.revokeCertificate, leafJob, { ...retry, jobId: leafJobId }),
      caAgain: await queue.add(SIGNER_JOBS.revokeCa, caJob, { ...retry, jobId: caJobId }),
      leafOther: await queue.add(SIGNER_JOBS.revokeCertificate, { ...leafJob, reason: 'superseded' }, { ...retry, jobId: `other-revoke-${leafId}` }),
      caOther: await queue.add(SIGNER_JOBS.revokeCa, { ...caJob, reason: 'superseded' }, { ...retry, jobId: `other-revoke-ca-${intermediateId}` }),
      later: await queue.add(SIGNER_JOBS.revokeCertificate, { certificateId: laterLeafId, orgId, reason: 'superseded', actor }, { ...retry, jobId: `test-revoke-${laterLeafId}` }),
    };
    const ours = new Set(Object.values(jobs).map((j) => j.id));
    const failed = new Set<string>();
    let allFailedOnce!: () => void;
    const failedOnce = new Promise<void>((resolve) => (allFailedOnce = resolve));
    const connection = createRedis(process.env.REDIS_URL as string, 'signet-test-ledger-impostor');
    // (A scheduled sweep it takes meanwhile fails too, harmlessly: only these jobs are counted.)
    const impostor = new Worker(SIGNER_QUEUE, async (job) => {
      if (ours.has(job.id) && failed.add(job.id!).size === ours.size) allFailedOnce();
      throw new Error('signer went away after the commit');
    }, { connection, prefix, concurrency: ours.size + 2 });
    await failedOnce;
    await impostor.close();
    await closeRedis(connection);
    signer = await startSigner(signerEnv);

    // The revocations' own jobs find their commit in the ledger and complete as they would have.
    expect(await settled(jobs.leafAgain)).toMatchObject({ state: 'completed', returnvalue: leafRevoked, failedReason: 'signer went away after the commit' });
    expect(await settled(jobs.caAgain)).toMatchObject({ state: 'completed', returnvalue: caRevoked, failedReason: 'signer went away after the commit' });
    // Other jobs on subjects already revoked, retried too: already_revoked.
    for (const other of [jobs.leafOther, jobs.caOther]) {
      const outcome = await settled(other);
      expect(outcome.state).toBe('failed');
      expect(outcome.failedReason).toContain('already_revoked');
    }
    // Neither revoked again: one ledger row and one audit event each, as before.
    expect(await ledger(leafId)).toEqual([expect.objectContaining({ job_id: leafJobId })]);
    expect(await ledger(intermediateId)).toEqual([expect.objectContaining({ job_id: caJobId })]);
    const rows = (await db.query(`SELECT id, revocation_reason FROM certificates WHERE id = $1 UNION ALL SELECT id, revocation_reason FROM cas WHERE id = $2`, [leafId, intermediateId])).rows;
    expect(rows).toEqual(expect.arrayContaining([{ id: leafId, revocation_reason: 'keyCompromise' }, { id: intermediateId, revocation_reason: 'cessationOfOperation' }]));

    // A retried job whose first attempt died before committing revokes, and the ledger names it.
    const later = await settled(jobs.later);
    expect(later).toMatchObject({ state: 'completed', failedReason: 'signer went away after the commit' });
    expect(await ledger(laterLeafId)).toEqual([expect.objectContaining({ subject_kind: 'certificate', job_id: `test-revoke-${laterLeafId}` })]);
    expect(await revokeEvents()).toBe(eventsBefore + 1);
  }, 90_000);
});
