/**
 * A producer's side of the signer queue (the gateway's and the enroll server's): add a job, wait for its result with a deadline, and turn a
 * structured refusal back into the API error the signer chose. Past the deadline the caller gets 503;
 * the job carries on, and a retry with the same job id finds its result.
 */
import { OnApplicationShutdown } from '@nestjs/common';
import {
  JobFailure, PASSPHRASE_SEAL_TTL_MS, SIGNER_QUEUE, SealedPassphrase, SignerJobName, SignerJobPayload, SignerJobResult, decodeJobFailure, seal, transportKeyRedisKey,
} from '@signet/queue';
import { ApiError, ERROR_STATUS, ErrorCode } from './errors';
import { closeRedis, createRedis } from './redis.module';
import { isStoreUnavailableMessage, storeUnavailable } from './store-errors';
import { inSpan, jobTraceMetadata } from './tracing';
import { SpanKind } from '@opentelemetry/api';
import { Job, Queue, QueueEvents } from 'bullmq';
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
  private events: QueueEvents | null = null;
  private connections: Redis[] = [];

  constructor(private readonly config: { REDIS_URL: string; QUEUE_PREFIX: string }) {}

  /** Connected on first use: a gateway that never enqueues (or starts while Redis is down) holds nothing open. */
  private ensureConnected(): { queue: Queue; events: QueueEvents } {
    if (this.queue && this.events) return { queue: this.queue, events: this.events };
    const connection = createRedis(this.config.REDIS_URL, 'signet-gateway-queue');
    const eventsConnection = createRedis(this.config.REDIS_URL, 'signet-gateway-queue-events');
    this.connections = [connection, eventsConnection];
    const options = { prefix: this.config.QUEUE_PREFIX };
    this.queue = new Queue(SIGNER_QUEUE, { ...options, connection });
    this.events = new QueueEvents(SIGNER_QUEUE, { ...options, connection: eventsConnection });
    this.queue.on('error', () => undefined);
    // Every waitUntilFinished in flight adds a listener; a batch has 16, a busy gateway many more.
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
    this.events.on('error', () => undefined);
    return { queue: this.queue, events: this.events };
  }

  async onApplicationShutdown(): Promise<void> {
    // BullMQ's close() waits for a connection that may never come (Redis down): bound it.
    const closing = Promise.allSettled([this.queue?.close(), this.events?.close()]);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await Promise.all(this.connections.map(closeRedis));
  }

  /** The signers' transport key (published by every running signer), for secrets bound for them. */
  async transportKey(): Promise<string> {
    const { queue } = this.ensureConnected();
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
    const { queue, events } = this.ensureConnected();
    const traceMetadata = jobTraceMetadata();
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Job wait ${name} timed out before adding (${deadlineMs} ms)`)), deadlineMs);
    });
    try {
      const job = await Promise.race([
        queue.add(name, data, {
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
      return (await finished(queue, job, events, Math.max(1, deadlineMs - (Date.now() - started)))) as SignerJobResult<N>;
    } catch (error) {
      const message = (error as Error).message;
      const failure = decodeJobFailure(message);
      if (failure) throw apiErrorOf(failure);
      if (/timed out|Job wait .* timed out/i.test(message)) {
        throw new ApiError('service_unavailable', 'the signer did not answer in time; retry the request', { retryable: true });
      }
      // The job failed (its retries spent) because a store was down, or Redis went away while we waited.
      if (isStoreUnavailableMessage(message)) throw storeUnavailable('the signer could not reach a data store; retry the request');
      // The job is gone (BullMQ: "Missing key for job <id>. isFinished"): Redis lost it, restarted without
      // persistence or flushed. It was never answered; the request may be sent again.
      if (/^Missing key for job /.test(message)) throw storeUnavailable('the signer queue lost this request (its store restarted); retry the request');
      throw new ApiError('internal', 'the signer failed to process the request');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Past this, a wait also asks Redis itself whether the job finished (see `finished`). */
const POLL_AFTER_MS = 1000;

/**
 * The job's result: from its QueueEvents notification, or, when none has come within POLL_AFTER_MS, from
 * the job's own state, asked every POLL_AFTER_MS. A notification can be missed: a QueueEvents stream that
 * was not reading yet when the job finished (a fresh client's first wait) never hears of it, and the wait
 * would run to its deadline with the work done (seen about once in fifteen first waits). Most jobs finish
 * well within the first second, so the poll costs nothing on the issuance path.
 */
async function finished(queue: Queue, job: Job, events: QueueEvents, ttlMs: number): Promise<unknown> {
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
      } catch {
        // Redis away: the notification path (and its deadline) decides.
      }
      if (!settled) timer = setTimeout(() => void check(), POLL_AFTER_MS);
    };
    timer = setTimeout(() => void check(), POLL_AFTER_MS);
  });
  polled.catch(() => undefined);
  try {
    return await Promise.race([job.waitUntilFinished(events, ttlMs), polled]);
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}
