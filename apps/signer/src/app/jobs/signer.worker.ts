/**
 * The signer's BullMQ worker. Payloads are validated as they come off the queue; refusals travel back
 * as structured failures. On shutdown the worker closes first (it stops taking jobs and lets active
 * ones finish), then its connection.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { CreateCaJob, IssueCertificateJob, SIGNER_JOBS, SIGNER_QUEUE, validateJob } from '@signet/queue';
import { closeRedis, createRedis } from '@signet/service';
import { Job, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { asJobError, refuse } from '../job-failure';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { CreateCaHandler } from './create-ca.handler';
import { IssueCertificateHandler } from './issue-certificate.handler';

@Injectable()
export class SignerWorker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SignerWorker.name);
  private worker: Worker | null = null;
  private connection: Redis | null = null;

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    private readonly createCa: CreateCaHandler,
    private readonly issueCertificate: IssueCertificateHandler,
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
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    if (this.connection) await closeRedis(this.connection);
  }

  private async process(job: Job): Promise<unknown> {
    try {
      switch (job.name) {
        case SIGNER_JOBS.createCa:
          return await this.createCa.handle(this.payload(CreateCaJob, job));
        case SIGNER_JOBS.issueCertificate:
          return await this.issueCertificate.handle(this.payload(IssueCertificateJob, job));
        default:
          throw refuse('bad_request', `unknown job ${job.name}`);
      }
    } catch (error) {
      throw asJobError(error);
    }
  }

  private payload<T extends object>(cls: new () => T, job: Job): T {
    const result = validateJob(cls, job.data);
    if ('errors' in result) throw refuse('validation_failed', `malformed ${job.name} job: ${result.errors.join(', ')}`);
    return result.job;
  }
}
