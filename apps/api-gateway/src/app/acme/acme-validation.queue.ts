/**
 * Challenge validation as jobs on their own BullMQ queue (`acme-validation`), worked by the gateway
 * processes (never the signer: it holds keys and talks to no outside host). Each attempt is bounded by
 * ACME_VALIDATION_TIMEOUT_MS and the worker runs ACME_VALIDATION_CONCURRENCY of them at once, so a slow
 * or hostile target holds one slot for at most that long and never stalls other orders. A failed
 * attempt is retried (RFC 8555 8.2: the challenge stays `processing`) up to ACME_VALIDATION_ATTEMPTS
 * times with backoff; the last failure settles the challenge, its authorization and their orders.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { acmeAccountById, acmeAuthorizationById, acmeChallengeById, settleAcmeChallenge } from '@signet/persistence';
import { Clock, closeRedis, createRedis } from '@signet/service';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { JWK } from 'jose';
import { DataSource } from 'typeorm';
import { acmeOrders, acmeValidations } from '../gateway-metrics';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { thumbprintOf } from './acme-jws';
import { validateChallenge } from './validation';

export const ACME_VALIDATION_QUEUE = 'acme-validation';

interface ValidationJob {
  challengeId: string;
}

/** Why a job ended without a settled challenge; thrown so BullMQ retries it. */
class AttemptFailed extends Error {}

@Injectable()
export class AcmeValidationQueue implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AcmeValidation');
  private queue: Queue<ValidationJob> | null = null;
  private worker: Worker<ValidationJob> | null = null;
  private readonly connections: Redis[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.ACME_VALIDATION_WORKER) return;
    const connection = createRedis(this.config.REDIS_URL, 'signet-acme-validation-worker');
    connection.options.maxRetriesPerRequest = null;
    this.connections.push(connection);
    this.worker = new Worker<ValidationJob>(ACME_VALIDATION_QUEUE, (job) => this.work(job), {
      connection, prefix: this.config.QUEUE_PREFIX, concurrency: this.config.ACME_VALIDATION_CONCURRENCY,
    });
    this.worker.on('error', (error) => this.logger.warn(`validation worker: ${error.message}`));
  }

  async enqueue(challengeId: string): Promise<void> {
    if (!this.queue) {
      const connection = createRedis(this.config.REDIS_URL, 'signet-acme-validation');
      this.connections.push(connection);
      this.queue = new Queue<ValidationJob>(ACME_VALIDATION_QUEUE, { connection, prefix: this.config.QUEUE_PREFIX });
    }
    await this.queue.add('validate', { challengeId }, {
      // One job per challenge: a client's second "ready" finds the first.
      jobId: `challenge-${challengeId}`,
      attempts: this.config.ACME_VALIDATION_ATTEMPTS,
      backoff: { type: 'exponential', delay: this.config.ACME_VALIDATION_RETRY_MS },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600, count: 10_000 },
    });
  }

  private async work(job: Job<ValidationJob>): Promise<string> {
    const manager = this.dataSource.manager;
    const challenge = await acmeChallengeById(manager, job.data.challengeId);
    if (!challenge || challenge.status !== 'processing') return 'settled already';
    const authz = await acmeAuthorizationById(manager, challenge.authorizationId);
    const account = authz ? await acmeAccountById(manager, authz.accountId) : null;
    if (!authz || !account) throw new UnrecoverableError('the challenge has no authorization or account');
    const keyAuthorization = `${challenge.token}.${await thumbprintOf(account.jwk as unknown as JWK)}`;
    const outcome = await validateChallenge(
      { type: challenge.type, identifier: authz.identifier, token: challenge.token, keyAuthorization },
      {
        resolver: this.config.ACME_DNS_RESOLVER || undefined, http01Port: this.config.ACME_HTTP01_PORT,
        tlsAlpn01Port: this.config.ACME_TLSALPN01_PORT, timeoutMs: this.config.ACME_VALIDATION_TIMEOUT_MS,
      },
    );
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (outcome.valid) {
      await settleAcmeChallenge(manager, { challengeId: challenge.id, valid: true, error: null, now: this.clock.now() });
      acmeValidations.inc({ type: challenge.type, outcome: 'valid' });
      return 'valid';
    }
    if (!lastAttempt) {
      acmeValidations.inc({ type: challenge.type, outcome: 'retried' });
      throw new AttemptFailed(outcome.problem.detail);
    }
    const settled = await settleAcmeChallenge(manager, { challengeId: challenge.id, valid: false, error: outcome.problem, now: this.clock.now() });
    acmeValidations.inc({ type: challenge.type, outcome: 'invalid' });
    acmeOrders.inc({ status: 'invalid' }, settled.invalidatedOrders);
    return 'invalid';
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.worker?.close(), this.queue?.close()]);
    await Promise.all(this.connections.map(closeRedis));
  }
}
