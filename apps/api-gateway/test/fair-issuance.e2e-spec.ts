/**
 * One tenant's expensive work does not stall another's (issue 18, finding 7): org A floods the signer
 * with managed RSA-4096 issuances while org B asks for one certificate from a P-256 CSR. B's answer must
 * come while A's flood is mostly outstanding: not coalesced with A's key generations (the batcher's
 * lanes), and not queued behind all of them (the signer's per-org share, ORG_ISSUE_CONCURRENCY). Judged
 * by counts of A's certificates in the database when B is answered, never by timings. Against the real
 * stack: the gateway, a built signer with two worker slots and a share of one, PostgreSQL and Redis.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SIGNER_QUEUE } from '@signet/queue';
import { RunningService, stopService } from '@signet/testing';
import { closeRedis, createRedis } from '@signet/service';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { createOrg, sleep, startGateway, startSigner, withKey } from './support';

const FLOOD = 8;
const CSR_P256 = readFileSync(join(__dirname, '../../../libs/pki/testdata/csr/ok-go-p256-two-dns.pem'), 'utf8');

describe('fair issuance between orgs', () => {
  // A queue of this file's own: the job counts below are this file's jobs only.
  const prefix = `${process.env.QUEUE_PREFIX}-fair`;
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let queue: Queue;
  let redis: Redis;
  const a = { key: '', orgId: '', caId: '' };
  const b = { key: '', orgId: '', caId: '' };

  const issuedBy = async (orgId: string): Promise<number> =>
    (await db.query(`SELECT count(*)::int AS n FROM certificates WHERE org_id = $1`, [orgId])).rows[0].n;
  const jobsSeen = async (): Promise<number> =>
    Object.values(await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed')).reduce((s, n) => s + n, 0);
  const rsaItem = (i: number) => ({ caId: a.caId, commonName: `rsa-${i}.flood.test`, keyAlgorithm: 'RSA-4096' });
  const csrIssue = () => withKey(http, b.key).post('/api/v1/certificates', { caId: b.caId, mode: 'csr', csrPem: CSR_P256 });

  beforeAll(async () => {
    signer = await startSigner({ QUEUE_PREFIX: prefix, SIGNER_CONCURRENCY: '2', ORG_ISSUE_CONCURRENCY: '1' });
    // The widest coalescing window and group: whatever may travel together, does.
    gateway = await startGateway({ QUEUE_PREFIX: prefix, ISSUE_COALESCE_MS: '50', ISSUE_COALESCE_MAX: '64' });
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    redis = createRedis(process.env.REDIS_URL as string, 'fair-issuance-test');
    queue = new Queue(SIGNER_QUEUE, { connection: redis, prefix });
    for (const [org, name] of [[a, 'Flooding org'], [b, 'Quiet org']] as const) {
      const created = await createOrg(gateway, name);
      org.key = created.adminKey;
      org.orgId = created.org.id;
      org.caId = (await withKey(http, org.key).post('/api/v1/cas', { name: `${name} root`, subject: { commonName: `${name} Root` } }).expect(201)).body.ca.id;
    }
  });
  afterAll(async () => {
    await queue?.close();
    if (redis) await closeRedis(redis);
    await db?.end();
    await gateway?.close();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('answers a cheap issuance sent together with a batch of RSA-4096 key generations before most of them', async () => {
    const before = await issuedBy(a.orgId);
    const flood = withKey(http, a.key).post('/api/v1/certificates/batch', { items: Array.from({ length: FLOOD }, (_, i) => rsaItem(i)) }).then((r) => r);
    const single = await csrIssue().expect(201);
    const floodDone = (await issuedBy(a.orgId)) - before;
    expect(single.body.certificate.keyAlgorithm).toBe('ECDSA-P256');
    expect(floodDone).toBeLessThan(FLOOD / 2);
    const batch = (await flood).body;
    expect(batch).toMatchObject({ total: FLOOD, successful: FLOOD, failed: 0 });
  });

  it('gives the other org a worker slot while the flood takes more than its share', async () => {
    const before = await issuedBy(a.orgId);
    const jobsBefore = await jobsSeen();
    const flood = Promise.all(Array.from({ length: FLOOD }, (_, i) => withKey(http, a.key).post('/api/v1/certificates', rsaItem(100 + i)).then((r) => r.status)));
    // Every request of the flood is on the queue (as a job of its own) before B asks; bounded, so a
    // producer that coalesces them into fewer jobs ends the wait too.
    for (let i = 0; i < 250 && (await jobsSeen()) - jobsBefore < FLOOD; i++) await sleep(20);
    const single = await csrIssue().expect(201);
    const floodDone = (await issuedBy(a.orgId)) - before;
    expect(single.body.certificate.keyAlgorithm).toBe('ECDSA-P256');
    expect(floodDone).toBeLessThan(FLOOD / 2);
    expect(await flood).toEqual(Array(FLOOD).fill(201));
    expect((await issuedBy(a.orgId)) - before).toBe(FLOOD);
  });
});
