/**
 * A signer process killed (SIGKILL) during a batch leaves every item issued once after a restart; a
 * revocation whose first attempt committed but never reached the gateways' cache is published by its retry.
 *
 * The gateway runs in-process; the signer is the built one, started with SIGNER_JOB_LOCK_MS=2000 so the
 * jobs a dead signer held are taken again within seconds. The batch mixes fast csr-mode items with slow
 * managed RSA-3072 items (key generation ~1 s each on the thread pool), so that when enough rows exist
 * the signer still holds active jobs: those are the ones a crash could lose or issue twice.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { toPem } from '@signet/pki';
import { SIGNER_JOBS, SIGNER_QUEUE, encodeOcspCacheEntry, encodeOcspChange, ocspCacheKey, ocspChangesChannel } from '@signet/queue';
import { closeRedis, createRedis } from '@signet/service';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { Queue, Worker } from 'bullmq';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createOrg, sleep, startGateway, until } from './support';

const ITEMS = 40;
/** Every MANAGED_EVERY-th item (from index 2) is a managed RSA-3072 key with storeKey; the rest are CSRs. */
const MANAGED_EVERY = 5;
/** Kill the signer once this many rows exist (the batch is then well under way, and not done). */
const KILL_AT_ROWS = 10;
const LOCK_MS = 2000;

const dir = mkdtempSync(join(tmpdir(), 'signet-crash-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
const commonNameOf = (i: number) => `crash-${i}.example.test`;
const isManaged = (i: number) => i % MANAGED_EVERY === 2;

interface BatchBody {
  total: number;
  successful: number;
  failed: number;
  errors: { index: number; code: string; error: string }[];
  certificates: { index: number; certificate: { id: string; commonName: string; certificatePem: string; chainPem: string; mode: string }; privateKey?: string }[];
}

describe('a signer killed during a batch', () => {
  let gateway: NestFastifyApplication | undefined;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client | undefined;
  let queue: Queue | undefined;
  let redis: ReturnType<typeof createRedis> | undefined;
  const signers: RunningService[] = [];
  let signerEnv: Record<string, string>;
  let adminKey: string;
  let orgId: string;
  let caId: string;
  const csrs = new Map<number, string>();
  /** A managed certificate from the batch, for the replay below. */
  let managedId: string | undefined;

  async function startSigner(): Promise<RunningService> {
    const port = await freePort();
    const signer = spawnService('signer', { ...signerEnv, SIGNER_HEALTH_PORT: String(port) });
    signers.push(signer);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
    return signer;
  }

  const rowsForCa = async (): Promise<number> =>
    (await db!.query('SELECT count(*)::int AS n FROM certificates WHERE ca_id = $1', [caId])).rows[0].n;

  beforeAll(async () => {
    signerEnv = {
      ...testServiceEnv(),
      MASTER_KEY: randomBytes(32).toString('base64'),
      SIGNER_JOB_LOCK_MS: String(LOCK_MS),
      SIGNER_CONCURRENCY: '4',
    };
    await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    const org = await createOrg(gateway, 'Crash org');
    adminKey = org.adminKey;
    orgId = org.org.id;
    const ca = await request(http).post('/api/v1/cas').set(bearer(adminKey))
      .send({ name: 'Crash root', subject: { commonName: 'Crash Root' }, keyAlgorithm: 'ECDSA-P256', permittedDnsDomains: ['example.test'] })
      .expect(201);
    caId = ca.body.ca.id;
    for (let i = 0; i < ITEMS; i++) {
      if (isManaged(i)) continue;
      const made = openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `csr-${i}.key`,
        '-subj', `/CN=${commonNameOf(i)}`, '-out', `csr-${i}.pem`);
      if (!made.ok) throw new Error(made.out);
      csrs.set(i, readFileSync(join(dir, `csr-${i}.pem`), 'utf8'));
    }
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    redis = createRedis(process.env.REDIS_URL as string, 'signet-test-crash');
    queue = new Queue(SIGNER_QUEUE, { prefix: process.env.QUEUE_PREFIX, connection: redis });
  }, 60_000);

  afterAll(async () => {
    // Everything is released even when a step fails: a hung signer is SIGKILLed by stopService.
    const steps: (() => Promise<unknown>)[] = [
      ...signers.map((s) => () => stopService(s, 5000)),
      async () => gateway?.close(),
      async () => queue?.close(),
      async () => redis && closeRedis(redis),
      async () => db?.end(),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('every item ends up issued exactly once, with one audit event each; items only succeed or say service_unavailable', async () => {
    const started = Date.now();
    const items = Array.from({ length: ITEMS }, (_, i) =>
      isManaged(i)
        ? { caId, commonName: commonNameOf(i), keyAlgorithm: 'RSA-3072', storeKey: true }
        : { caId, mode: 'csr', csrPem: csrs.get(i) },
    );
    let settled = false;
    const batch = request(http).post('/api/v1/certificates/batch').set(bearer(adminKey)).send({ items })
      .then((res) => res, (error) => error)
      .finally(() => (settled = true));

    // Wait until the batch is well under way, then kill the signer without warning.
    let rowsAtKill = await rowsForCa();
    // ... and a job is in the signer's hands (requests travel coalesced, several items per job).
    while ((rowsAtKill < KILL_AT_ROWS || (await queue!.getActiveCount()) === 0) && !settled && Date.now() - started < 30_000) {
      await sleep(20);
      rowsAtKill = await rowsForCa();
    }
    const first = signers[0];
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    // Nothing can move these jobs now but the next signer: they are what the crash left behind.
    const orphaned = (await queue!.getActive()).map((job) => job.id as string);
    const waiting = await queue!.getWaitingCount();
    expect(settled).toBe(false);
    expect(rowsAtKill).toBeLessThan(ITEMS);
    expect(orphaned.length).toBeGreaterThan(0);

    await sleep(1000);
    await startSigner();
    const res = await batch;
    const answeredAt = Date.now();
    expect(res.status).toBe(201);
    const body = res.body as BatchBody;
    expect(body.total).toBe(ITEMS);
    expect(body.successful + body.failed).toBe(ITEMS);
    // A deadline miss is the only acceptable failure: no internal error, no conflict.
    expect(body.errors.filter((e) => e.code !== 'service_unavailable')).toEqual([]);

    // Items past their deadline carry on in the queue: wait (bounded) until every name has its row.
    const expectedNames = Array.from({ length: ITEMS }, (_, i) => commonNameOf(i));
    const perName = async () =>
      (await db!.query(
        'SELECT common_name, count(*)::int AS n, array_agg(id::text) AS ids FROM certificates WHERE ca_id = $1 GROUP BY common_name',
        [caId],
      )).rows as { common_name: string; n: number; ids: string[] }[];
    let rows = await perName();
    while (rows.length < ITEMS && Date.now() - answeredAt < 30_000) {
      await sleep(200);
      rows = await perName();
    }
    const counts = Object.fromEntries(rows.map((r) => [r.common_name, r.n]));
    expect(counts).toEqual(Object.fromEntries(expectedNames.map((name) => [name, 1])));
    const idOfName = new Map(rows.map((r) => [r.common_name, r.ids[0]]));
    const allIds = new Set(idOfName.values());

    // Every certificate the batch returned is the one row of its item's name.
    for (const item of body.certificates) {
      expect({ index: item.index, id: item.certificate.id }).toEqual({ index: item.index, id: idOfName.get(commonNameOf(item.index)) });
    }
    // The orphaned jobs (coalesced issueMany jobs) were finished by the second signer: every item they
    // carried (issuanceKey = issue-<certificateId>) has its row.
    const orphanedKeys: string[] = [];
    for (const id of orphaned) {
      const job = await queue!.getJob(id);
      orphanedKeys.push(...((job?.data.items ?? [job?.data]) as { issuanceKey: string }[]).map((item) => item.issuanceKey));
    }
    expect(orphanedKeys.length).toBeGreaterThan(0);
    const issuanceKeys = (await db!.query('SELECT issuance_key FROM certificates WHERE ca_id = $1', [caId])).rows.map((r) => r.issuance_key);
    expect(issuanceKeys).toEqual(expect.arrayContaining(orphanedKeys));
    const stored = await db!.query('SELECT common_name FROM certificates WHERE ca_id = $1 AND encrypted_key IS NOT NULL', [caId]);
    expect(stored.rows.map((r) => r.common_name).sort()).toEqual(expectedNames.filter((_, i) => isManaged(i)).sort());

    // One certificate.issue audit event per item, each for one of these rows.
    const audit = await db!.query(
      `SELECT resource_id::text AS id FROM audit_events WHERE org_id = $1 AND event_type = 'certificate.issue' AND outcome = 'success'`,
      [orgId],
    );
    expect(audit.rows).toHaveLength(ITEMS);
    expect(new Set(audit.rows.map((r) => r.id))).toEqual(allIds);
    const api = await request(http).get('/api/v1/audit?eventType=certificate.issue&limit=1000').set(bearer(adminKey)).expect(200);
    expect(api.body.events).toHaveLength(ITEMS);

    // openssl verifies what went through the crash, plus a csr and a managed item from the response.
    const orphanedIds = orphanedKeys.map((key) => key.replace(/^issue-/, ''));
    const toVerify = new Set([...orphanedIds.filter((id) => allIds.has(id))]);
    const csrItem = body.certificates.find((c) => !isManaged(c.index));
    const managedItem = body.certificates.find((c) => isManaged(c.index));
    for (const c of [csrItem, managedItem]) if (c) toVerify.add(c.certificate.id);
    managedId = managedItem?.certificate.id;
    for (const id of toVerify) {
      const got = await request(http).get(`/api/v1/certificates/${id}`).set(bearer(adminKey)).expect(200);
      writeFileSync(join(dir, `${id}.pem`), got.body.certificate.certificatePem);
      writeFileSync(join(dir, `${id}-root.pem`), got.body.certificate.chainPem);
      expect(openssl('verify', '-CAfile', `${id}-root.pem`, `${id}.pem`).out).toContain(`${id}.pem: OK`);
    }
    // A managed item answered with its key: the key is the certificate's.
    for (const c of body.certificates.filter((x) => isManaged(x.index) && x.privateKey)) {
      writeFileSync(join(dir, `m-${c.index}.key`), c.privateKey!);
      writeFileSync(join(dir, `m-${c.index}.pem`), c.certificate.certificatePem);
      expect(openssl('pkey', '-in', `m-${c.index}.key`, '-pubout').out).toBe(openssl('x509', '-in', `m-${c.index}.pem`, '-noout', '-pubkey').out);
    }

    // What happened, for whoever reads the log.
    console.log(JSON.stringify({
      rowsAtKill, orphanedAtKill: orphaned.length, waitingAtKill: waiting, killedAfterMs: killedAt - started,
      answeredAfterMs: answeredAt - started, allRowsAfterMs: Date.now() - started, successful: body.successful, failed: body.failed,
      managedWithoutKey: body.certificates.filter((c) => isManaged(c.index) && !c.privateKey).map((c) => c.index),
    }));
  }, 120_000);

  /*
   * The window a random kill rarely hits: the signer committed the row and died before BullMQ recorded
   * the job as completed. Replaying the very same payload (what the next signer does with that job)
   * must not issue again. The replay answers with the certificate id only, without `sealedPrivateKey`
   * (the key left with the dead signer): the gateway then hands out the stored key when there is one
   * (storeKey) and otherwise answers 409 with the certificate id (certificates.service.ts issueOnce).
   */
  it('a job replayed after its row was committed issues nothing new (and returns no managed key: the gateway falls back to the stored one)', async () => {
    expect(managedId).toBeDefined();
    // A coalesced job that carried a managed item and answered it with its sealed key (a job finished
    // by the second signer may hold items whose key already left with the first one).
    type Item = { issuanceKey: string; certificateId: string; mode: string };
    const carriers = (await queue!.getJobs(['completed'], 0, 10_000)).filter((job) => Array.isArray(job.data?.items));
    const found = carriers.flatMap((job) =>
      (job.data.items as Item[]).map((item, index) => ({ item, outcome: job.returnvalue?.outcomes?.[index] })),
    ).find(({ item, outcome }) => item.mode === 'managed' && outcome?.sealedPrivateKey);
    expect(found).toBeDefined();
    const item = found!.item;
    managedId = item.certificateId;
    expect(item).toMatchObject({ issuanceKey: `issue-${managedId}`, mode: 'managed', recipientKey: expect.any(String) });
    const original = { name: 'certificate.issue', data: item };
    const before = (await db!.query('SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1', [orgId])).rows[0].n;
    const rowsBefore = await rowsForCa();

    const replay = await queue!.add(original.name, original.data, { jobId: `replay-${managedId}` });
    const deadline = Date.now() + 15_000;
    let state = await replay.getState();
    while (state !== 'completed' && state !== 'failed' && Date.now() < deadline) {
      await sleep(50);
      state = await replay.getState();
    }
    expect(state).toBe('completed');
    const result = (await queue!.getJob(replay.id!))!.returnvalue;
    expect(result.certificateId).toBe(managedId);
    // With the row that was committed, as the API answers with it (what the gateway builds its answer from).
    const stored = (await request(http).get(`/api/v1/certificates/${managedId}`).set(bearer(adminKey)).expect(200)).body.certificate;
    expect(result.certificate).toMatchObject({ id: managedId, serialNumber: stored.serialNumber, createdAt: stored.createdAt, hasStoredKey: stored.hasStoredKey });
    expect(toPem('CERTIFICATE', Buffer.from(result.certificate.certificateDer, 'base64'))).toBe(stored.certificatePem);
    expect(await rowsForCa()).toBe(rowsBefore);
    expect((await db!.query('SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1', [orgId])).rows[0].n).toBe(before);
    // The gap: no key comes back for a managed item whose first run committed.
    expect(result.sealedPrivateKey).toBeUndefined();
  });

  /*
   * A revocation commits, then writes the revoked response to the Redis cache the gateways answer from.
   * Had the signer died in between (or Redis refused the write), the cache would still say `good`. The
   * state such a crash leaves is made here: a revoked row whose cache entry holds the old good response,
   * and a revoke job whose first attempt failed. The next signer's attempt must publish the revoked answer
   * and complete (not stop at already_revoked), without a second revocation or audit event.
   */
  it('a revoke job retried after its first attempt committed publishes the revoked OCSP answer and completes; another job gets already_revoked', async () => {
    const leaf = (await request(http).post('/api/v1/certificates').set(bearer(adminKey))
      .send({ caId, commonName: 'retried-revoke.example.test', keyAlgorithm: 'ECDSA-P256' }).expect(201)).body.certificate;
    writeFileSync(join(dir, 'retry-leaf.pem'), leaf.certificatePem);
    writeFileSync(join(dir, 'retry-chain.pem'), leaf.chainPem);
    expect(openssl('ocsp', '-issuer', 'retry-chain.pem', '-cert', 'retry-leaf.pem', '-no_nonce', '-reqout', 'retry.req').ok).toBe(true);
    const ocspAnswer = async () => {
      const res = await request(http).post('/pki/ocsp').set('Content-Type', 'application/ocsp-request')
        .send(readFileSync(join(dir, 'retry.req'))).buffer(true).parse((r, done) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => done(null, Buffer.concat(chunks)));
        });
      writeFileSync(join(dir, 'retry.resp'), res.body as Buffer);
      return openssl('ocsp', '-respin', 'retry.resp', '-issuer', 'retry-chain.pem', '-cert', 'retry-leaf.pem', '-CAfile', 'retry-chain.pem', '-no_nonce').out;
    };
    expect(await ocspAnswer()).toContain('retry-leaf.pem: good');
    const good = (await db!.query('SELECT ca_id, der, this_update, next_update FROM ocsp_responses WHERE serial_number = $1', [leaf.serialNumber])).rows[0];

    const revoked = await request(http).post(`/api/v1/certificates/${leaf.id}/revoke`).set(bearer(adminKey)).send({ reason: 'keyCompromise' }).expect(200);
    const revokedAt = revoked.body.certificate.revokedAt;
    expect(await ocspAnswer()).toMatch(/retry-leaf\.pem: revoked[\s\S]*Reason: keyCompromise/i);
    // What a lost publish leaves: the cache answers the old `good`, and the gateway believes it (had it
    // kept the `good` answer, it would still hold it; here it is told to read the cache again).
    await redis!.set(ocspCacheKey(process.env.QUEUE_PREFIX as string, leaf.serialNumber),
      encodeOcspCacheEntry({ caId: good.ca_id, der: good.der, thisUpdate: good.this_update, nextUpdate: good.next_update }), 'PX', 600_000);
    await redis!.publish(ocspChangesChannel(process.env.QUEUE_PREFIX as string), encodeOcspChange({ token: '', serialNumbers: [leaf.serialNumber] }));
    await until('the gateway serves the lost publish\'s good answer', async () => (await ocspAnswer()).includes('retry-leaf.pem: good'));
    const auditBefore = (await db!.query(`SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND event_type = 'certificate.revoke'`, [orgId])).rows[0].n;
    // The revocation's own job, as its audit event names it.
    const jobId = (await db!.query(`SELECT details->>'jobId' AS id FROM audit_events WHERE event_type = 'certificate.revoke' AND resource_id = $1`, [leaf.id])).rows[0].id as string;
    const original = (await queue!.getJob(jobId))!;
    expect(original.data).toMatchObject({ certificateId: leaf.id, reason: 'keyCompromise' });

    // That job runs again, and so does another revoke job for the same certificate: each one's first
    // attempt, taken while no signer runs, fails the way a dead signer's would.
    for (const signer of signers.splice(0)) await stopService(signer, 5000);
    await original.remove();
    const retry = { attempts: 3, backoff: { type: 'fixed' as const, delay: 1000 } };
    const again = await queue!.add(SIGNER_JOBS.revokeCertificate, original.data, { ...retry, jobId });
    const other = await queue!.add(SIGNER_JOBS.revokeCertificate, { ...original.data, reason: 'superseded' }, { ...retry, jobId: `other-revoke-${leaf.id}` });
    let failed = 0;
    let bothFailedOnce!: () => void;
    const failedOnce = new Promise<void>((resolve) => (bothFailedOnce = resolve));
    const impostorConnection = createRedis(process.env.REDIS_URL as string, 'signet-test-impostor');
    const impostor = new Worker(SIGNER_QUEUE, async () => {
      if (++failed === 2) bothFailedOnce();
      throw new Error('signer went away after the commit');
    }, { connection: impostorConnection, prefix: process.env.QUEUE_PREFIX, concurrency: 2 });
    await failedOnce;
    await impostor.close();
    await closeRedis(impostorConnection);
    await startSigner();

    const settled = async (job: typeof again) => {
      const deadline = Date.now() + 15_000;
      let state = await job.getState();
      while (state !== 'completed' && state !== 'failed' && Date.now() < deadline) {
        await sleep(50);
        state = await job.getState();
      }
      const done = (await queue!.getJob(job.id!))!;
      return { state, failedReason: done.failedReason, returnvalue: done.returnvalue };
    };
    // The revocation's own job finds its commit: it publishes the revoked answer and completes as it would have.
    expect(await settled(again)).toEqual({ state: 'completed', failedReason: 'signer went away after the commit', returnvalue: { revokedAt } });
    expect(await ocspAnswer()).toMatch(/retry-leaf\.pem: revoked[\s\S]*Reason: keyCompromise/i);
    // Any other job, retried or not, finds a certificate revoked by someone else: already_revoked.
    const refused = await settled(other);
    expect(refused.state).toBe('failed');
    expect(refused.failedReason).toContain('already_revoked');
    expect((await db!.query(`SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND event_type = 'certificate.revoke'`, [orgId])).rows[0].n).toBe(auditBefore);
  }, 60_000);
});
