/**
 * A revocation's job completes only once every gateway process that heard its OCSP change announcement
 * has acknowledged it (the gateways keep OCSP answers in process; issue 17). The gateway processes are
 * played here by plain Redis subscribers on the run's queue prefix; the jobs go through the queue to the
 * built signer with the run's PostgreSQL and Redis.
 */
import { CreateCaJob, SIGNER_JOBS, SIGNER_QUEUE, decodeOcspChange, ocspAcksChannel, ocspChangesChannel } from '@signet/queue';
import { SignerClient, closeRedis, createRedis } from '@signet/service';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';

const actor = { type: 'system' as const, id: null, name: null, ip: null };
/**
 * A queue of its own (under the run's prefix, which the global teardown clears): the stand-in gateways
 * below acknowledge only this file's announcements, so no other file's revocation may wait on them.
 */
const QUEUE_PREFIX = `${process.env.QUEUE_PREFIX as string}-ocsp-changes`;

/** A stand-in for one gateway process: hears the announcements and acknowledges only when told to. */
async function gatewayProcess(): Promise<{ heard: string[][]; tokens: string[]; next: () => Promise<void>; ack: (token: string) => Promise<number>; close: () => Promise<void> }> {
  const connection: Redis = createRedis(process.env.REDIS_URL as string, 'signet-test-ocsp-gateway');
  const publisher: Redis = createRedis(process.env.REDIS_URL as string, 'signet-test-ocsp-gateway-acks');
  const heard: string[][] = [];
  const tokens: string[] = [];
  let waiting: (() => void) | null = null;
  connection.on('message', (_channel: string, message: string) => {
    const change = decodeOcspChange(message);
    if (!change) return;
    heard.push(change.serialNumbers);
    tokens.push(change.token);
    waiting?.();
  });
  await connection.subscribe(ocspChangesChannel(QUEUE_PREFIX));
  return {
    heard,
    tokens,
    next: () => new Promise<void>((resolve) => (waiting = resolve)),
    ack: (token) => publisher.publish(ocspAcksChannel(QUEUE_PREFIX), token),
    close: async () => {
      await closeRedis(connection);
      await closeRedis(publisher);
    },
  };
}

describe('a revocation waits for every gateway process to drop its kept OCSP answer', () => {
  let signer: RunningService;
  let signerHealth: string;
  let client: SignerClient;
  let queue: Queue;
  let queueConnection: Redis;
  let db: Client;
  let orgId: string;
  let caId: string;

  beforeAll(async () => {
    const healthPort = await freePort();
    signerHealth = `http://127.0.0.1:${healthPort}`;
    signer = spawnService('signer', {
      ...testServiceEnv(), QUEUE_PREFIX, MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(healthPort), OCSP_CHANGE_ACK_TIMEOUT_MS: '500',
    });
    await waitForHttp(`${signerHealth}/healthz`, signer);
    client = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX });
    queueConnection = createRedis(process.env.REDIS_URL as string, 'signet-test-ocsp-queue');
    queue = new Queue(SIGNER_QUEUE, { connection: queueConnection, prefix: QUEUE_PREFIX });
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    orgId = (await db.query(`INSERT INTO orgs (name, slug) VALUES ('OCSP changes', $1) RETURNING id`, [`ocsp-${randomBytes(4).toString('hex')}`])).rows[0].id;
    const ca: CreateCaJob = {
      caId: randomUUID(), orgId, name: 'OCSP changes root', subject: { commonName: 'OCSP Changes Root' }, keyAlgorithm: 'ECDSA-P256', validityDays: 365, actor,
    };
    caId = (await client.run(SIGNER_JOBS.createCa, ca, `test-ca-${ca.caId}`)).caId;
  });
  afterAll(async () => {
    await client?.onApplicationShutdown();
    await queue?.close();
    if (queueConnection) await closeRedis(queueConnection);
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  /** A managed leaf from the CA, through the signer; its id and serial. */
  async function leaf(commonName: string): Promise<{ id: string; serialNumber: string }> {
    const certificateId = randomUUID();
    await client.run(SIGNER_JOBS.issueMany, {
      items: [{
        issuanceKey: `issue-${certificateId}`, certificateId, orgId, caId, mode: 'managed', commonName, sans: { dns: [], ip: [], email: [], uri: [] },
        keyAlgorithm: 'ECDSA-P256', validityDays: 30, usage: 'server', extendedKeyUsage: ['serverAuth'], autoRenew: false, renewalThresholdDays: 30,
        storeKey: false, actor,
      }],
    }, `test-issue-${certificateId}`);
    const row = (await db.query('SELECT serial_number FROM certificates WHERE id = $1', [certificateId])).rows[0];
    return { id: certificateId, serialNumber: row.serial_number };
  }

  it('completes the revoke job only after the acknowledgement, and names the serial', async () => {
    const subject = await leaf('acked.example.test');
    const gateway = await gatewayProcess();
    try {
      const jobId = `test-revoke-${subject.id}`;
      const heard = gateway.next();
      const revoked = client.run(SIGNER_JOBS.revokeCertificate, { certificateId: subject.id, orgId, reason: 'keyCompromise', actor }, jobId);
      await heard;
      expect(gateway.heard[0]).toEqual([subject.serialNumber]);
      expect(gateway.tokens[0]).not.toBe('');
      // Committed, announced, not acknowledged: the job is still running, so the revoke call has not answered.
      expect((await db.query('SELECT status FROM certificates WHERE id = $1', [subject.id])).rows[0].status).toBe('revoked');
      expect(await (await queue.getJob(jobId))!.getState()).toBe('active');
      expect(await gateway.ack(gateway.tokens[0])).toBe(1);
      expect(await revoked).toEqual({ revokedAt: expect.any(String) });
    } finally {
      await gateway.close();
    }
  });

  it('tries again while a process that heard the change stays silent (counted in the metrics), and completes once it is gone', async () => {
    const timeouts = async () => Number(/^signet_ocsp_change_ack_timeouts_total(?:{[^}]*})? (\d+)$/m.exec(await (await fetch(`${signerHealth}/metrics`)).text())?.[1]);
    expect(await timeouts()).toBe(0);
    const subject = await leaf('silent.example.test');
    const silent = await gatewayProcess();
    let closed = false;
    try {
      const revoked = client.run(SIGNER_JOBS.revokeCertificate, { certificateId: subject.id, orgId, reason: 'superseded', actor }, `test-revoke-${subject.id}`);
      // The first announcement times out unacknowledged (OCSP_CHANGE_ACK_TIMEOUT_MS) and is made again.
      while (silent.heard.length < 2) await silent.next();
      expect(silent.heard.slice(0, 2)).toEqual([[subject.serialNumber], [subject.serialNumber]]);
      expect(new Set(silent.tokens).size).toBe(silent.tokens.length);
      expect(await timeouts()).toBeGreaterThanOrEqual(1);
      await silent.close();
      closed = true;
      expect(await revoked).toEqual({ revokedAt: expect.any(String) });
    } finally {
      if (!closed) await silent.close();
    }
  });
});
