/**
 * Deliveries as jobs on their own BullMQ queue (`webhooks`, under QUEUE_PREFIX), worked by the gateway
 * processes (never the signer, which talks to no outside host). The job id is the delivery id, so
 * enqueuing a delivery twice makes one job.
 *
 * An attempt POSTs `{id, event, createdAt, orgId, data}` with `Signet-Signature: t=<unix>,v1=<hex
 * HMAC-SHA256 of "<t>.<body>">` (signed anew each attempt; the body and its `id` stay the same). A 2xx
 * within WEBHOOK_TIMEOUT_MS is delivered; anything else (another status, a redirect, which is never
 * followed, no answer) is retried: the first retry after WEBHOOK_RETRY_BASE_MS, doubling up to 360 times
 * that, for 8640 times that in all (10 s, 1 h and 24 h at the default): 33 attempts. Each attempt is
 * recorded on the delivery row; after the last it is `failed`. A receiver that hangs holds one of
 * WEBHOOK_CONCURRENCY slots for WEBHOOK_TIMEOUT_MS and nothing else: issuance never waits on a delivery.
 * The secret is opened only for the signature and never logged.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DeliveryToSend, WebhookDeliveryStatus, deliveryToSend, recordDeliveryAttempt } from '@signet/persistence';
import { closeRedis, createRedis } from '@signet/service';
import { BackoffOptions, Job, Queue, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { webhookDeliveries } from '../gateway-metrics';
import { GatewaySecretBox, GatewaySecretUnreadable } from '../gateway-secrets';
import { signatureHeader } from './webhook-secrets';

export const WEBHOOK_QUEUE = 'webhooks';

/** The longest pause between attempts, and the span of all retries, in units of the base delay. */
const MAX_DELAY_FACTOR = 360;
const RETRY_SPAN_FACTOR = 8640;
const BACKOFF_TYPE = 'webhook';
const MAX_ERROR_LENGTH = 500;

/** The pause before retry number `retry` (1 = after the first attempt). */
export function retryDelayMs(retry: number, baseMs: number): number {
  return baseMs * Math.min(2 ** Math.max(0, retry - 1), MAX_DELAY_FACTOR);
}

/** Attempts in all: retries until their pauses add up to RETRY_SPAN_FACTOR base delays, plus the first. */
export const DELIVERY_ATTEMPTS = (() => {
  let retries = 0;
  for (let span = 0; span < RETRY_SPAN_FACTOR; span += retryDelayMs(++retries, 1));
  return retries + 1;
})();

interface DeliveryJob {
  deliveryId: string;
}

/** One attempt's outcome: the answer's status (null: none) and what went wrong (null: a 2xx). */
interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
}

/** Thrown so BullMQ retries the job; its message is what the delivery row records. */
class AttemptFailed extends Error {}

@Injectable()
export class WebhookDeliveries implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WebhookDeliveries');
  private queue: Queue<DeliveryJob> | null = null;
  private worker: Worker<DeliveryJob> | null = null;
  private readonly connections: Redis[] = [];
  /** Attempts under way, aborted at shutdown so closing does not wait for a hanging receiver. */
  private readonly inFlight = new Set<AbortController>();
  private closing = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly box: GatewaySecretBox,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.WEBHOOK_WORKER) return;
    const connection = createRedis(this.config.REDIS_URL, 'signet-webhook-worker');
    connection.options.maxRetriesPerRequest = null;
    this.connections.push(connection);
    this.worker = new Worker<DeliveryJob>(WEBHOOK_QUEUE, (job) => this.work(job), {
      connection, prefix: this.config.QUEUE_PREFIX, concurrency: this.config.WEBHOOK_CONCURRENCY,
      settings: { backoffStrategy: (retry, _type, _err, job) => retryDelayMs(retry, (job?.opts.backoff as BackoffOptions | undefined)?.delay ?? this.config.WEBHOOK_RETRY_BASE_MS) },
    });
    this.worker.on('error', (error) => this.logger.warn(`webhook worker: ${error.message}`));
  }

  /** Queue these deliveries (each once: the job id is the delivery id). */
  async enqueue(deliveryIds: string[]): Promise<void> {
    if (!deliveryIds.length) return;
    if (!this.queue) {
      const connection = createRedis(this.config.REDIS_URL, 'signet-webhooks');
      this.connections.push(connection);
      this.queue = new Queue<DeliveryJob>(WEBHOOK_QUEUE, { connection, prefix: this.config.QUEUE_PREFIX });
    }
    await this.queue.addBulk(deliveryIds.map((deliveryId) => ({
      name: 'deliver',
      data: { deliveryId },
      opts: {
        jobId: deliveryId,
        attempts: DELIVERY_ATTEMPTS,
        // The schedule travels with the job: every replica retries it alike.
        backoff: { type: BACKOFF_TYPE, delay: this.config.WEBHOOK_RETRY_BASE_MS },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      },
    })));
  }

  private async work(job: Job<DeliveryJob>): Promise<WebhookDeliveryStatus | 'gone'> {
    const manager = this.dataSource.manager;
    const delivery = await deliveryToSend(manager, job.data.deliveryId);
    // Deleted with its webhook, or settled by an earlier run of this job.
    if (!delivery) return 'gone';
    if (delivery.status !== 'pending') return delivery.status;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome = delivery.enabled ? await this.attempt(delivery) : { statusCode: null, error: 'the webhook was disabled before this delivery was sent' };
    const status: WebhookDeliveryStatus = outcome.error === null ? 'delivered' : lastAttempt || !delivery.enabled ? 'failed' : 'pending';
    await recordDeliveryAttempt(manager, delivery.id, { status, statusCode: outcome.statusCode, error: outcome.error, at: new Date() });
    webhookDeliveries.inc({ outcome: status === 'pending' ? 'retried' : status });
    if (status === 'pending') throw new AttemptFailed(outcome.error ?? 'not delivered');
    return status;
  }

  /** One POST of the delivery, signed now. Never throws: every failure is an outcome. */
  private async attempt(delivery: DeliveryToSend): Promise<AttemptOutcome> {
    let secret: string;
    try {
      secret = this.box.open(delivery.encryptedSecret, delivery.webhookId);
    } catch (error) {
      if (!(error instanceof GatewaySecretUnreadable)) throw error;
      this.logger.error({ webhookId: delivery.webhookId, err: error.message }, 'webhook secret unreadable: not sent');
      return { statusCode: null, error: error.message };
    }
    const body = JSON.stringify({ id: delivery.id, event: delivery.event, createdAt: delivery.createdAt.toISOString(), orgId: delivery.orgId, data: delivery.payload });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.config.WEBHOOK_TIMEOUT_MS);
    this.inFlight.add(controller);
    try {
      const res = await fetch(delivery.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Signet-Webhooks/1',
          'signet-signature': signatureHeader(secret, body, Math.floor(Date.now() / 1000)),
          'signet-event': delivery.event,
          'signet-delivery': delivery.id,
        },
      });
      // The answer's body is not read.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { statusCode: res.status, error: null };
      const redirect = res.status >= 300 && res.status < 400 ? ': redirects are not followed' : '';
      return { statusCode: res.status, error: `HTTP ${res.status}${redirect}` };
    } catch (error) {
      const aborted = controller.signal.aborted && (this.closing ? 'the gateway shut down during the attempt' : `no answer within ${this.config.WEBHOOK_TIMEOUT_MS} ms`);
      return { statusCode: null, error: aborted || describeFailure(error) };
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const controller of this.inFlight) controller.abort();
    await Promise.allSettled([this.worker?.close(), this.queue?.close()]);
    await Promise.all(this.connections.map(closeRedis));
  }
}

/** Why a request failed, in a line: the network cause when there is one (fetch says only "fetch failed"). */
function describeFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const text = cause?.code ? `${cause.code}${cause.message ? `: ${cause.message}` : ''}` : cause?.message ?? (error as Error).message ?? String(error);
  return `request failed: ${text}`.slice(0, MAX_ERROR_LENGTH);
}
