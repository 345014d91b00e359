/**
 * The signer's own producer side of the queue: CRL rebuilds it schedules after revocations, and the
 * repeatable sweeps every signer declares (declaring the same scheduler twice is a no-op).
 */
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { BuildCrlJob, SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { REDIS } from '@signet/service';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';

/** Audit retention is counted in days: an hourly sweep is plenty. */
const AUDIT_RETENTION_SWEEP_EVERY_MS = 3_600_000;

@Injectable()
export class SignerQueue implements OnApplicationShutdown {
  readonly queue: Queue;

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    @Inject(REDIS) redis: Redis,
  ) {
    this.queue = new Queue(SIGNER_QUEUE, { connection: redis, prefix: config.QUEUE_PREFIX });
    this.queue.on('error', () => undefined);
  }

  /**
   * One rebuild per CA per CRL_REBUILD_DELAY_MS window, run at the window's end: every revocation
   * committed in the window is in it (each was committed before its job was added, hence before the
   * build starts), and a burst of revocations costs one build. A revocation while a build runs falls
   * in the next window and gets the next build.
   */
  async scheduleCrl(caId: string, shard: number | null = null, now = Date.now()): Promise<void> {
    const window = this.config.CRL_REBUILD_DELAY_MS;
    const bucket = Math.floor(now / window);
    await this.queue.add(SIGNER_JOBS.buildCrl, crlJob(caId, shard), {
      jobId: `${crlJobKey(caId, shard)}-${bucket}`,
      delay: (bucket + 1) * window - now,
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 86400, count: 1000 },
    });
  }

  /** A CRL now (one due on schedule, or missed), de-duplicated per CRL and minute. */
  async buildCrlSoon(caId: string, shard: number | null = null): Promise<void> {
    await this.queue.add(SIGNER_JOBS.buildCrl, crlJob(caId, shard), {
      jobId: `${crlJobKey(caId, shard)}-now-${Math.floor(Date.now() / 60_000)}`,
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 86400, count: 1000 },
    });
  }

  async declareSweeps(): Promise<void> {
    const options = { removeOnComplete: { count: 10 }, removeOnFail: { count: 50 } };
    await this.queue.upsertJobScheduler('revocation-sweep', { every: this.config.REVOCATION_SWEEP_INTERVAL_MS }, { name: SIGNER_JOBS.revocationSweep, data: {}, opts: options });
    await this.queue.upsertJobScheduler('renewal-sweep', { every: this.config.RENEWAL_SWEEP_INTERVAL_MS }, { name: SIGNER_JOBS.renewalSweep, data: {}, opts: options });
    await this.queue.upsertJobScheduler('audit-retention-sweep', { every: AUDIT_RETENTION_SWEEP_EVERY_MS }, { name: SIGNER_JOBS.auditRetentionSweep, data: {}, opts: options });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

const crlJob = (caId: string, shard: number | null): BuildCrlJob => (shard === null ? { caId } : { caId, shard });
/** The job id stem of one CRL: `crl-<caId>` for the full CRL (as before shards), `crl-<caId>-s<n>` for a shard. */
const crlJobKey = (caId: string, shard: number | null): string => (shard === null ? `crl-${caId}` : `crl-${caId}-s${shard}`);
