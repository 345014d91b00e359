/**
 * How a producer hears of its jobs' ends (libs/queue SignerReply): the signer publishes each end on the
 * channel the job names, once BullMQ has recorded it, and a producer (SignerClient) reads only its own
 * channel, not the queue's event stream. A reply that never comes (a job id that already finished) is
 * found by the poll of the job's state: the state in BullMQ stays the truth.
 */
import { CreateCaJob, SIGNER_JOBS, SIGNER_QUEUE, signerRepliesChannel } from '@signet/queue';
import { ApiError, SignerClient, closeRedis, createRedis } from '@signet/service';
import { RunningService, startSigner, stopService } from '@signet/testing';
import { Queue } from 'bullmq';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type Redis from 'ioredis';

const actor = { type: 'system' as const, id: null, name: null, ip: null };
const prefix = () => process.env.QUEUE_PREFIX as string;

describe('signer replies on the producer channel', () => {
  let signer: RunningService;
  let client: SignerClient;
  let listener: Redis;
  let db: Client;
  let orgId: string;
  const heard: { channel: string; message: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    signer = await startSigner();
    client = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX: prefix() });
    listener = createRedis(process.env.REDIS_URL as string, 'test-replies');
    listener.on('pmessage', (_pattern: string, channel: string, message: string) => heard.push({ channel, message: JSON.parse(message) }));
    await listener.psubscribe(`${signerRepliesChannel(prefix(), '')}*`);
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    orgId = (await db.query(`INSERT INTO orgs (name, slug) VALUES ('Replies', $1) RETURNING id`, [`replies-${randomBytes(4).toString('hex')}`])).rows[0].id;
  });
  afterAll(async () => {
    await client?.onApplicationShutdown();
    if (listener) await closeRedis(listener);
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  const caJob = (): CreateCaJob => ({ caId: randomUUID(), orgId, name: 'Replies root', subject: { commonName: 'Replies Root' }, keyAlgorithm: 'ECDSA-P256', validityDays: 365, actor });

  it('answers a job from its reply on the producer channel, which carries what BullMQ recorded', async () => {
    const job = caJob();
    const jobId = `test-reply-${job.caId}`;
    expect(await client.run(SIGNER_JOBS.createCa, job, jobId)).toEqual({ caId: job.caId });
    const reply = heard.find((h) => h.message.jobId === jobId);
    expect(reply?.message).toEqual({ jobId, returnvalue: { caId: job.caId } });
    const queue = new Queue(SIGNER_QUEUE, { connection: { url: process.env.REDIS_URL }, prefix: prefix() });
    try {
      const stored = await queue.getJob(jobId);
      expect(stored?.returnvalue).toEqual({ caId: job.caId });
      // The channel the job named is the one the reply went to, one per producer process.
      expect(reply?.channel).toBe(stored?.data.replyTo);
      expect(reply?.channel).toMatch(new RegExp(`^${signerRepliesChannel(prefix(), '')}[0-9a-f-]{36}$`));
    } finally {
      await queue.close();
    }
  });

  it('carries a refusal as the API error the signer chose', async () => {
    const jobId = `test-reply-refused-${randomUUID()}`;
    const refused = await client.run(SIGNER_JOBS.createCa, { ...caJob(), parentCaId: randomUUID() }, jobId).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 'not_found' });
    expect(heard.find((h) => h.message.jobId === jobId)?.message).toEqual({ jobId, failedReason: expect.stringContaining('signetJobFailure') });
  });

  it('answers a job id that already finished, for which no reply comes, from the job state', async () => {
    const job = caJob();
    const jobId = `test-reply-again-${job.caId}`;
    await client.run(SIGNER_JOBS.createCa, job, jobId);
    const replies = heard.filter((h) => h.message.jobId === jobId).length;
    // A second producer asks for the same job id: BullMQ keeps the finished job and runs nothing.
    const other = new SignerClient({ REDIS_URL: process.env.REDIS_URL as string, QUEUE_PREFIX: prefix() });
    try {
      expect(await other.run(SIGNER_JOBS.createCa, job, jobId)).toEqual({ caId: job.caId });
    } finally {
      await other.onApplicationShutdown();
    }
    expect(heard.filter((h) => h.message.jobId === jobId)).toHaveLength(replies);
  });
});
