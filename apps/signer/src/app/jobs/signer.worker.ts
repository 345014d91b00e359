/**
 * The signer's BullMQ worker. Payloads are validated as they come off the queue; refusals travel back
 * as structured failures. On shutdown the worker closes first (it stops taking jobs and lets active
 * ones finish), then its connection.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import {
  BuildCrlJob, CreateCaJob, ExportKeyJob, ImportCaJob, IssueCertificateJob, IssueManyResult, MAX_ISSUE_MANY, RevokeCaJob, RevokeCertificateJob, SIGNER_JOBS, SIGNER_QUEUE,
  transportKeyRedisKey, validateJob,
} from '@signet/queue';
import { REDIS, closeRedis, createRedis } from '@signet/service';
import { Job, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { asJobError, refuse } from '../job-failure';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { CaKeyring } from '../keys/ca-keyring';
import { CreateCaHandler } from './create-ca.handler';
import { ExportKeyHandler } from './export-key.handler';
import { ImportCaHandler } from './import-ca.handler';
import { IssueCertificateHandler } from './issue-certificate.handler';
import { CrlBuilder } from '../revocation/crl-builder';
import { JobAttempt, RevokeHandlers } from '../revocation/revoke.handlers';
import { SignerQueue } from '../revocation/signer-queue';
import { Sweeps } from '../revocation/sweeps';

/** This job's id, and whether an attempt of it started before: one that failed, or one whose signer died (stalled). */
const attemptOf = (job: Job): JobAttempt => ({ jobId: String(job.id), retried: job.attemptsMade > 0 || (job.attemptsStarted ?? 0) > 1 });

/** The transport key is re-published this often, so a flushed or failed-over Redis gets it back. */
const PUBLISH_EVERY_MS = 60_000;

@Injectable()
export class SignerWorker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SignerWorker.name);
  private worker: Worker | null = null;
  private connection: Redis | null = null;
  private publisher: NodeJS.Timeout | null = null;

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    private readonly createCa: CreateCaHandler,
    private readonly issueCertificate: IssueCertificateHandler,
    private readonly importCa: ImportCaHandler,
    private readonly exportKey: ExportKeyHandler,
    private readonly keyring: CaKeyring,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly revoke: RevokeHandlers,
    private readonly crls: CrlBuilder,
    private readonly sweeps: Sweeps,
    private readonly queue: SignerQueue,
  ) {}

  onModuleInit(): void {
    this.connection = createRedis(this.config.REDIS_URL, 'signet-signer-worker');
    this.worker = new Worker(SIGNER_QUEUE, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.config.QUEUE_PREFIX,
      concurrency: this.config.SIGNER_CONCURRENCY,
      lockDuration: this.config.SIGNER_JOB_LOCK_MS,
      // Look for jobs orphaned by a dead signer as often as a lock can expire.
      stalledInterval: this.config.SIGNER_JOB_LOCK_MS,
      autorun: true,
    });
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'worker connection error'));
    this.publishTransportKey();
    this.queue.declareSweeps().catch((err: Error) => this.logger.warn({ err: err.message }, 'could not declare the sweeps'));
    this.publisher = setInterval(() => this.publishTransportKey(), PUBLISH_EVERY_MS).unref();
  }

  private publishTransportKey(): void {
    const key = transportKeyRedisKey(this.config.QUEUE_PREFIX);
    this.redis.set(key, this.keyring.transport.publicKeyBase64).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not publish the transport key'));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.publisher) clearInterval(this.publisher);
    await this.worker?.close();
    if (this.connection) await closeRedis(this.connection);
  }

  private async process(job: Job): Promise<unknown> {
    try {
      switch (job.name) {
        case SIGNER_JOBS.createCa:
          return await this.createCa.handle(this.payload(CreateCaJob, job));
        case SIGNER_JOBS.importCa:
          return await this.importCa.handle(this.payload(ImportCaJob, job));
        case SIGNER_JOBS.issueCertificate:
          return await this.issueCertificate.handle(this.payload(IssueCertificateJob, job));
        case SIGNER_JOBS.issueMany:
          return await this.issueMany(job);
        case SIGNER_JOBS.exportKey:
          return await this.exportKey.handle(this.payload(ExportKeyJob, job));
        case SIGNER_JOBS.revokeCertificate:
          return await this.revoke.revokeCertificate(this.payload(RevokeCertificateJob, job), attemptOf(job));
        case SIGNER_JOBS.revokeCa:
          return await this.revoke.revokeCa(this.payload(RevokeCaJob, job), attemptOf(job));
        case SIGNER_JOBS.buildCrl:
          return await this.crls.build(this.payload(BuildCrlJob, job).caId);
        case SIGNER_JOBS.revocationSweep:
          return await this.sweeps.revocation();
        case SIGNER_JOBS.renewalSweep:
          return await this.sweeps.renewal();
        default:
          throw refuse('bad_request', `unknown job ${job.name}`);
      }
    } catch (error) {
      throw asJobError(error);
    }
  }

  /** Items are validated one by one: a malformed item is refused alone, the others are issued. */
  private async issueMany(job: Job): Promise<IssueManyResult> {
    const items: unknown[] = Array.isArray(job.data?.items) ? job.data.items : [];
    if (!items.length || items.length > MAX_ISSUE_MANY) throw refuse('validation_failed', `an ${SIGNER_JOBS.issueMany} job carries 1 to ${MAX_ISSUE_MANY} items`);
    const outcomes: IssueManyResult['outcomes'] = new Array(items.length);
    const valid: { index: number; job: IssueCertificateJob }[] = [];
    for (const [index, item] of items.entries()) {
      const result = validateJob(IssueCertificateJob, item);
      if ('errors' in result) outcomes[index] = { error: { code: 'validation_failed', message: `malformed item: ${result.errors.join(', ')}` } };
      else valid.push({ index, job: result.job });
    }
    const issued = await this.issueCertificate.handleMany(valid.map((v) => v.job));
    valid.forEach((v, i) => (outcomes[v.index] = issued[i]));
    return { outcomes };
  }

  private payload<T extends object>(cls: new () => T, job: Job): T {
    const result = validateJob(cls, job.data);
    if ('errors' in result) throw refuse('validation_failed', `malformed ${job.name} job: ${result.errors.join(', ')}`);
    return result.job;
  }
}
