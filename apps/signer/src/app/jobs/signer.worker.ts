/**
 * The signer's BullMQ worker. Payloads are validated as they come off the queue; refusals travel back
 * as structured failures. On shutdown the worker closes first (it stops taking jobs and lets active
 * ones finish), then its connection.
 *
 * Each org gets a share of the process, not all of it (issue 18, finding 7): at most
 * ORG_ISSUE_CONCURRENCY of one org's issuance jobs run here at once. A job past its org's share goes
 * back to the queue, delayed (DelayedError: no attempt is spent), so the worker slot serves other orgs'
 * jobs; when one of the org's jobs ends, one it put back is promoted at once.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import {
  BuildCrlJob, CreateCaJob, ExportKeyJob, ImportCaJob, IssueCertificateJob, IssueManyResult, MAX_ISSUE_MANY, REPLY_TO_FIELD, RevokeCaJob, RevokeCertificateJob, SIGNER_JOBS, SIGNER_QUEUE,
  SetCrlShardsJob, SignerJobName, SignerJobResult, SignerReply, VerifyEabJob, WrapKeyJob, isSignerRepliesChannel, transportKeyRedisKey, validateJob,
} from '@signet/queue';
import { REDIS, closeRedis, createRedis, inJobSpan } from '@signet/service';
import { DelayedError, Job, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { asJobError, refuse } from '../job-failure';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { CaKeyring } from '../keys/ca-keyring';
import { CreateCaHandler } from './create-ca.handler';
import { ExportKeyHandler } from './export-key.handler';
import { VerifyEabHandler } from './verify-eab.handler';
import { WrapKeyHandler } from './wrap-key.handler';
import { SetCrlShardsHandler } from './set-crl-shards.handler';
import { ImportCaHandler } from './import-ca.handler';
import { IssueCertificateHandler } from './issue-certificate.handler';
import { CrlBuilder } from '../revocation/crl-builder';
import { JobAttempt, RevokeHandlers } from '../revocation/revoke.handlers';
import { SignerQueue } from '../revocation/signer-queue';
import { jobOutcomeOf, signerJobDuration, signerJobs } from '../signer-metrics';
import { Sweeps } from '../revocation/sweeps';

/** This job's id, and whether an attempt of it started before: one that failed, or one whose signer died (stalled). */
const attemptOf = (job: Job): JobAttempt => ({ jobId: String(job.id), retried: job.attemptsMade > 0 || (job.attemptsStarted ?? 0) > 1 });

/** The org an issuance job works for (a coalesced job carries one org's items); null for other jobs. */
function issuingOrgOf(job: Job): string | null {
  const data = job.data as { orgId?: unknown; items?: { orgId?: unknown }[] } | undefined;
  const orgId = job.name === SIGNER_JOBS.issueCertificate ? data?.orgId : job.name === SIGNER_JOBS.issueMany && Array.isArray(data?.items) ? data.items[0]?.orgId : null;
  return typeof orgId === 'string' ? orgId : null;
}

/** A job put back for its org's share returns after this long at the latest (promoted sooner when a slot frees). */
const backOffOf = (job: Job): number => Math.min(1000, 100 * Math.max(1, job.attemptsStarted ?? 1));
/** Put-back jobs remembered per org for promotion; past this many the rest just return after their delay. */
const MAX_PUT_BACK = 1000;

/** The transport key is re-published this often, so a flushed or failed-over Redis gets it back. */
const PUBLISH_EVERY_MS = 60_000;

@Injectable()
export class SignerWorker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SignerWorker.name);
  private worker: Worker | null = null;
  private connection: Redis | null = null;
  private publisher: NodeJS.Timeout | null = null;
  /** Issuance jobs of each org running in this process. */
  private readonly running = new Map<string, number>();
  /** Jobs this process put back for their org's share, oldest first, by org. */
  private readonly putBack = new Map<string, string[]>();

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    private readonly createCa: CreateCaHandler,
    private readonly issueCertificate: IssueCertificateHandler,
    private readonly importCa: ImportCaHandler,
    private readonly exportKey: ExportKeyHandler,
    private readonly verifyEab: VerifyEabHandler,
    private readonly wrapKey: WrapKeyHandler,
    private readonly keyring: CaKeyring,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly revoke: RevokeHandlers,
    private readonly crls: CrlBuilder,
    private readonly crlShards: SetCrlShardsHandler,
    private readonly sweeps: Sweeps,
    private readonly queue: SignerQueue,
  ) {}

  onModuleInit(): void {
    this.connection = createRedis(this.config.REDIS_URL, 'signet-signer-worker');
    // Each job in a span, the child of its producer's (tracing.ts); a job put back for its org's share is not a failure.
    this.worker = new Worker(SIGNER_QUEUE, (job, token) => inJobSpan(job, () => this.withinOrgShare(job, token), (error) => !(error instanceof DelayedError)), {
      connection: this.connection,
      prefix: this.config.QUEUE_PREFIX,
      concurrency: this.config.SIGNER_CONCURRENCY,
      lockDuration: this.config.SIGNER_JOB_LOCK_MS,
      // Look for jobs orphaned by a dead signer as often as a lock can expire.
      stalledInterval: this.config.SIGNER_JOB_LOCK_MS,
      autorun: true,
    });
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'worker connection error'));
    // Emitted once BullMQ has recorded the end (a failure only when no retry follows): the producer's poll would find the same.
    this.worker.on('completed', (job, returnvalue) => this.reply(job, { jobId: String(job.id), returnvalue }));
    this.worker.on('failed', (job, error) => {
      if (job?.finishedOn) this.reply(job, { jobId: String(job.id), failedReason: error.message });
    });
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

  /** Tell the producer that named its replies channel in the job (SignerReply); a lost message costs it a poll, nothing else. */
  private reply(job: Job, reply: SignerReply): void {
    const channel: unknown = job.data?.[REPLY_TO_FIELD];
    if (!isSignerRepliesChannel(this.config.QUEUE_PREFIX, channel)) return;
    this.redis.publish(channel, JSON.stringify(reply)).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not publish a job reply'));
  }

  private async withinOrgShare(job: Job, token: string | undefined): Promise<unknown> {
    const orgId = issuingOrgOf(job);
    if (orgId === null) return this.process(job);
    const running = this.running.get(orgId) ?? 0;
    if (running >= this.config.ORG_ISSUE_CONCURRENCY) {
      await job.moveToDelayed(Date.now() + backOffOf(job), token);
      const waiting = this.putBack.get(orgId) ?? [];
      if (waiting.length < MAX_PUT_BACK && !waiting.includes(String(job.id))) waiting.push(String(job.id));
      this.putBack.set(orgId, waiting);
      throw new DelayedError();
    }
    this.running.set(orgId, running + 1);
    try {
      return await this.process(job);
    } finally {
      const left = (this.running.get(orgId) ?? 1) - 1;
      if (left > 0) this.running.set(orgId, left);
      else this.running.delete(orgId);
      void this.promoteOneOf(orgId);
    }
  }

  /** The oldest job of the org this process put back, made waiting again now (it may have returned already). */
  private async promoteOneOf(orgId: string): Promise<void> {
    const waiting = this.putBack.get(orgId);
    const jobId = waiting?.shift();
    if (!waiting?.length) this.putBack.delete(orgId);
    if (!jobId) return;
    const job = await Job.fromId(this.queue.queue, jobId).catch(() => undefined);
    // Not delayed any more (back already, taken, finished): nothing to do.
    await job?.promote().catch(() => undefined);
  }

  /**
   * What each job does, typed from the registry in libs/queue: a job without a handler, or a handler
   * that answers another job's result, does not compile. Payloads are validated as they come off the queue.
   */
  private readonly handlers: { [N in SignerJobName]: (job: Job) => Promise<SignerJobResult<N>> } = {
    [SIGNER_JOBS.createCa]: (job) => this.createCa.handle(this.payload(CreateCaJob, job)),
    [SIGNER_JOBS.importCa]: (job) => this.importCa.handle(this.payload(ImportCaJob, job)),
    [SIGNER_JOBS.issueCertificate]: (job) => this.issueCertificate.handle(this.payload(IssueCertificateJob, job)),
    [SIGNER_JOBS.issueMany]: (job) => this.issueMany(job),
    [SIGNER_JOBS.checkIssuance]: (job) => this.issueCertificate.check([this.payload(IssueCertificateJob, job)]),
    [SIGNER_JOBS.exportKey]: (job) => this.exportKey.handle(this.payload(ExportKeyJob, job)),
    [SIGNER_JOBS.verifyEab]: (job) => this.verifyEab.handle(this.payload(VerifyEabJob, job)),
    [SIGNER_JOBS.wrapKey]: (job) => this.wrapKey.handle(this.payload(WrapKeyJob, job)),
    [SIGNER_JOBS.revokeCertificate]: (job) => this.revoke.revokeCertificate(this.payload(RevokeCertificateJob, job), attemptOf(job)),
    [SIGNER_JOBS.revokeCa]: (job) => this.revoke.revokeCa(this.payload(RevokeCaJob, job), attemptOf(job)),
    [SIGNER_JOBS.buildCrl]: (job) => {
      const { caId, shard } = this.payload(BuildCrlJob, job);
      return this.crls.build(caId, undefined, shard ?? null);
    },
    [SIGNER_JOBS.setCrlShards]: (job) => this.crlShards.handle(this.payload(SetCrlShardsJob, job)),
    [SIGNER_JOBS.revocationSweep]: () => this.sweeps.revocation(),
    [SIGNER_JOBS.renewalSweep]: () => this.sweeps.renewal(),
    [SIGNER_JOBS.auditRetentionSweep]: () => this.sweeps.auditRetention(),
  };

  private async process(job: Job): Promise<unknown> {
    const handler = Object.hasOwn(this.handlers, job.name) ? (this.handlers as Record<string, (job: Job) => Promise<unknown>>)[job.name] : undefined;
    const labels = { job: handler ? job.name : 'unknown' };
    const ended = signerJobDuration.startTimer(labels);
    try {
      if (!handler) throw refuse('bad_request', `unknown job ${job.name}`);
      const result = await handler(job);
      signerJobs.inc({ ...labels, outcome: 'completed' });
      return result;
    } catch (error) {
      const failure = asJobError(error);
      signerJobs.inc({ ...labels, outcome: jobOutcomeOf(failure) });
      throw failure;
    } finally {
      ended();
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
    // The producer's replies channel travels beside the payload, not in it.
    const { [REPLY_TO_FIELD]: _replyTo, ...data } = job.data ?? {};
    const result = validateJob(cls, data);
    if ('errors' in result) throw refuse('validation_failed', `malformed ${job.name} job: ${result.errors.join(', ')}`);
    return result.job;
  }
}
