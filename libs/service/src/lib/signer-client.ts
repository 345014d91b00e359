/**
 * A producer's side of the signer queue (the gateway's and the enroll server's): add a job, wait for its result with a deadline, and turn a
 * structured refusal back into the API error the signer chose. Past the deadline the caller gets 503;
 * the job carries on, and a retry with the same job id finds its result. The signer tells each producer
 * process of its own jobs' ends on its own channel (libs/queue SignerReply), so no producer reads the
 * queue's whole event stream; the job's state in BullMQ stays the truth, polled when a reply is late.
 */
import { OnApplicationShutdown } from '@nestjs/common';
import {
  JobFailure, PASSPHRASE_SEAL_TTL_MS, REPLY_TO_FIELD, SIGNER_QUEUE, SealedPassphrase, SignerJobName, SignerJobPayload, SignerJobResult, SignerReply, decodeJobFailure, seal,
  signerRepliesChannel, transportKeyRedisKey,
} from '@signet/queue';
import { ApiError, ERROR_STATUS, ErrorCode } from './errors';
import { closeRedis, createRedis } from './redis.module';
import { isStoreUnavailableMessage, storeUnavailable } from './store-errors';
import { inSpan, jobTraceMetadata } from './tracing';
import { SpanKind } from '@opentelemetry/api';
import { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';

export const SIGNER_DEADLINE_MS = 30_000;

/**
 * A signer's refusal as the API error it chose. A validation_failed always lists its fields (API.md):
 * a refusal that names one field, or none, becomes a one-entry list.
 */
export function apiErrorOf(failure: JobFailure): ApiError {
  const code = (failure.code in ERROR_STATUS ? failure.code : 'internal') as ErrorCode;
  const details = failure.details ?? undefined;
  if (code === 'validation_failed' && !Array.isArray(details?.fields)) {
    const field = typeof details?.field === 'string' ? details.field : 'request';
    return new ApiError(code, failure.message, { ...details, fields: [{ field, messages: [failure.message] }] });
  }
  return new ApiError(code, failure.message, details);
}

/** Provided by each app with its own config: `{ provide: SignerClient, useFactory: (c) => new SignerClient(c), inject: [...] }`. */
export class SignerClient implements OnApplicationShutdown {
  private queue: Queue | null = null;
  /** Subscribed to this process's replies channel (libs/queue SignerReply): the signer tells it of its own jobs only. */
  private replies: Redis | null = null;
  private subscribed: Promise<unknown> = Promise.resolve();
  private connections: Redis[] = [];
  private readonly channel: string;
  /** Waits in flight by job id (two requests may wait on one id: a retry with the same id). */
  private readonly waiting = new Map<string, Set<(reply: SignerReply) => void>>();

  constructor(private readonly config: { REDIS_URL: string; QUEUE_PREFIX: string }) {
    this.channel = signerRepliesChannel(config.QUEUE_PREFIX, randomUUID());
  }

  /** Connected on first use: a gateway that never enqueues (or starts while Redis is down) holds nothing open. */
  private ensureConnected(): Queue {
    if (this.queue) return this.queue;
    const connection = createRedis(this.config.REDIS_URL, 'signet-gateway-queue');
    const replies = createRedis(this.config.REDIS_URL, 'signet-gateway-queue-replies');
    this.connections = [connection, replies];
    this.queue = new Queue(SIGNER_QUEUE, { prefix: this.config.QUEUE_PREFIX, connection });
    this.queue.on('error', () => undefined);
    // ioredis subscribes again after a reconnect; what was published meanwhile is found by the poll.
    replies.on('message', (_channel: string, message: string) => this.replied(message));
    this.subscribed = replies.subscribe(this.channel).catch(() => undefined);
    return this.queue;
  }

  private replied(message: string): void {
    let reply: SignerReply;
    try {
      reply = JSON.parse(message) as SignerReply;
    } catch {
      return;
    }
    for (const resolve of this.waiting.get(reply.jobId) ?? []) resolve(reply);
  }

  /** The reply to job `jobId`, when it comes; `stop` forgets the wait. */
  private replyTo(jobId: string): { reply: Promise<unknown>; stop: () => void } {
    let resolve!: (reply: SignerReply) => void;
    const reply = new Promise<unknown>((ok, fail) => {
      resolve = (r) => ('failedReason' in r ? fail(new Error(r.failedReason)) : ok(r.returnvalue));
    });
    reply.catch(() => undefined);
    const set = this.waiting.get(jobId) ?? new Set();
    set.add(resolve);
    this.waiting.set(jobId, set);
    return {
      reply,
      stop: () => {
        set.delete(resolve);
        if (!set.size && this.waiting.get(jobId) === set) this.waiting.delete(jobId);
      },
    };
  }

  async onApplicationShutdown(): Promise<void> {
    // BullMQ's close() waits for a connection that may never come (Redis down): bound it.
    const closing = Promise.allSettled([this.queue?.close()]);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await Promise.all(this.connections.map(closeRedis));
  }

  /** The signers' transport key (published by every running signer), for secrets bound for them. */
  async transportKey(): Promise<string> {
    const queue = this.ensureConnected();
    const client = await queue.client;
    const key = await client.get(transportKeyRedisKey(this.config.QUEUE_PREFIX)).catch(() => null);
    if (!key) throw new ApiError('service_unavailable', 'no signer has published its transport key yet: is a signer running?', { retryable: true });
    return key;
  }

  /** A CA passphrase sealed to the signers' transport key, for that CA only and for a while (SealedPassphrase). */
  async sealPassphrase(passphrase: string | undefined, caId: string): Promise<string | undefined> {
    if (passphrase === undefined) return undefined;
    const sealed: SealedPassphrase = { passphrase, caId, notAfter: Date.now() + PASSPHRASE_SEAL_TTL_MS };
    return seal(JSON.stringify(sealed), await this.transportKey());
  }

  /**
   * Add the job and wait for its result, all within `deadlineMs`: Redis down holds the add (ioredis
   * queues commands until it reconnects), and that wait counts against the deadline too. Typed from the
   * job registry (libs/queue SignerJobRegistry): the payload and the result are the job's own. Traced
   * (tracing.ts): a PRODUCER span around the add and the wait, whose context the job carries to the signer.
   */
  run<N extends SignerJobName>(name: N, data: SignerJobPayload<N>, jobId: string, deadlineMs = SIGNER_DEADLINE_MS): Promise<SignerJobResult<N>> {
    return inSpan(`signer.queue ${name}`, () => this.addAndWait(name, data, jobId, deadlineMs), {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'bullmq', 'messaging.operation.type': 'send', 'messaging.destination.name': SIGNER_QUEUE, 'messaging.message.id': jobId },
      // A refusal the signer chose (4xx) is an answer, not a failure of the hop.
      isFailure: (error) => !(error instanceof ApiError) || error.status >= 500,
    });
  }

  private async addAndWait<N extends SignerJobName>(name: N, data: SignerJobPayload<N>, jobId: string, deadlineMs: number): Promise<SignerJobResult<N>> {
    const queue = this.ensureConnected();
    const traceMetadata = jobTraceMetadata();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Job wait ${name} timed out (${deadlineMs} ms)`)), deadlineMs);
    });
    // Listening before the add: the reply cannot come before the wait for it.
    const { reply, stop } = this.replyTo(jobId);
    try {
      await Promise.race([this.subscribed, late]);
      const job = await Promise.race([
        queue.add(name, { ...data, [REPLY_TO_FIELD]: this.channel }, {
          jobId,
          attempts: 3,
          backoff: { type: 'exponential', delay: 500 },
          // Kept an hour so a retry with the same id finds the result; secrets in payloads are sealed.
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 3600, count: 10_000 },
          // W3C trace context for the signer's span (tracing on only): BullMQ's own field for it.
          ...(traceMetadata ? { telemetry: { metadata: traceMetadata } } : {}),
        }),
        late,
      ]);
      return (await finished(queue, job, reply, late)) as SignerJobResult<N>;
    } catch (error) {
      const message = (error as Error).message;
      const failure = decodeJobFailure(message);
      if (failure) throw apiErrorOf(failure);
      if (/timed out/i.test(message)) {
        throw new ApiError('service_unavailable', 'the signer did not answer in time; retry the request', { retryable: true });
      }
      // The job failed (its retries spent) because a store was down, or Redis went away while we waited.
      if (isStoreUnavailableMessage(message)) throw storeUnavailable('the signer could not reach a data store; retry the request');
      // The job is gone (BullMQ: "Missing key for job <id>"): Redis lost it, restarted without
      // persistence or flushed. It was never answered; the request may be sent again.
      if (/^Missing key for job /.test(message)) throw storeUnavailable('the signer queue lost this request (its store restarted); retry the request');
      throw new ApiError('internal', 'the signer failed to process the request');
    } finally {
      stop();
      clearTimeout(timer);
    }
  }
}

/** Past this, a wait also asks Redis itself whether the job finished (see `finished`). */
const POLL_AFTER_MS = 1000;

/**
 * The job's result: from the signer's reply on this producer's channel, or, when none has come within
 * POLL_AFTER_MS, from the job's own state, asked every POLL_AFTER_MS. A reply can be missed: published
 * while the subscriber was reconnecting, or never sent (a job whose id already existed finished long ago,
 * a job failed by the stalled-job check, a signer of an older build). Most jobs finish well within the
 * first second, so the poll costs nothing on the issuance path.
 */
async function finished(queue: Queue, job: Job, reply: Promise<unknown>, late: Promise<never>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const polled = new Promise<unknown>((resolve, reject) => {
    const check = async () => {
      try {
        const state = await job.getState();
        if (settled) return;
        if (state === 'completed' || state === 'failed') {
          const done = await Job.fromId(queue, String(job.id));
          if (settled || !done) return;
          return state === 'completed' ? resolve(done.returnvalue) : reject(new Error(done.failedReason));
        }
        // BullMQ's answer for a job whose keys are gone: see addAndWait.
        if (state === 'unknown') return reject(new Error(`Missing key for job ${job.id}. finished`));
      } catch {
        // Redis away: the reply (and the deadline) decide.
      }
      if (!settled) timer = setTimeout(() => void check(), POLL_AFTER_MS);
    };
    timer = setTimeout(() => void check(), POLL_AFTER_MS);
  });
  polled.catch(() => undefined);
  try {
    return await Promise.race([reply, polled, late]);
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}
