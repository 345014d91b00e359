/**
 * The signer's domain metrics (API.md section 12). Counters and histograms are updated in place by the
 * handlers; the gauges that need SQL (OCSP and CRL freshness, expiring certificates) or Redis (queue
 * depth) are computed by SignerMetricsCollector on METRICS_COLLECT_INTERVAL_MS, one query per family,
 * never per scrape. Labels are bounded: CA and profile ids, job names, fixed outcomes; never a serial.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { crlNextUpdateSecondsByCa, expiringCertificatesByCa, stalestOcspSecondsByCa } from '@signet/persistence';
import { SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { metricsRegistry, startAtZero } from '@signet/service';
import { UnrecoverableError } from 'bullmq';
import { Counter, Gauge, Histogram } from 'prom-client';
import { DataSource } from 'typeorm';
import { SIGNER_CONFIG } from './signer-config.token';
import type { SignerConfig } from './signer.config';
import { SignerQueue } from './revocation/signer-queue';

const registers = [metricsRegistry];

export const certificatesIssued = new Counter({
  name: 'signet_certificates_issued_total', help: 'Certificates committed by the signer, by CA, profile (none: no profile) and source (api, enroll, renewal, acme)',
  labelNames: ['ca_id', 'profile_id', 'source'] as const, registers,
});
export const certificatesRevoked = new Counter({
  name: 'signet_certificates_revoked_total', help: 'Revocations committed (leaves and intermediates), by issuing CA and reason',
  labelNames: ['ca_id', 'reason'] as const, registers,
});
/** Started at zero (no labels): a revocation that waited in vain for a gateway process shows from the first one. */
export const ocspChangeAckTimeouts = new Counter({
  name: 'signet_ocsp_change_ack_timeouts_total',
  help: 'Revocation change announcements that not every gateway process acknowledged within OCSP_CHANGE_ACK_TIMEOUT_MS (each is announced again; the revoke job fails after three)',
  registers,
});
export const signerJobs = new Counter({
  name: 'signet_signer_jobs_total', help: 'Signer jobs run, by job name and outcome (completed; refused: not retried; failed: retried by BullMQ while attempts last)',
  labelNames: ['job', 'outcome'] as const, registers,
});
export const signerJobDuration = new Histogram({
  name: 'signet_signer_job_duration_seconds', help: 'Signer job run time, by job name',
  labelNames: ['job'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
});
export const queueJobs = new Gauge({
  name: 'signet_queue_jobs', help: 'Jobs in a queue by state (waiting, active, delayed, failed), as of the last collection',
  labelNames: ['queue', 'state'] as const, registers,
});
export const ocspExpiring = new Gauge({
  name: 'signet_ocsp_responses_expiring_seconds', help: "Seconds until the nextUpdate of the CA's stalest pre-signed OCSP response still needed (negative: expired)",
  labelNames: ['ca_id'] as const, registers,
});
export const crlNextUpdate = new Gauge({
  name: 'signet_crl_next_update_seconds', help: "Seconds until the nextUpdate of the CA's stalest CRL, the full one or a shard (negative: past it)",
  labelNames: ['ca_id'] as const, registers,
});
export const crlBuildDuration = new Histogram({
  name: 'signet_crl_build_duration_seconds', help: 'CRL build time (read, sign, store)',
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers,
});
export const certificatesExpiring = new Gauge({
  name: 'signet_certificates_expiring', help: 'Active, not yet renewed certificates whose validity ends within 7d or 30d, by CA and autoRenew',
  labelNames: ['ca_id', 'within', 'auto_renew'] as const, registers,
});
export const renewals = new Counter({
  name: 'signet_renewals_total', help: 'Automatic renewals by the renewal sweep, by outcome (renewed, failed)',
  labelNames: ['outcome'] as const, registers,
});
export const metricsCollections = new Counter({
  name: 'signet_metrics_collections_total', help: 'Runs of the periodic gauge collector, by outcome (ok, failed)',
  labelNames: ['outcome'] as const, registers,
});

/** Where an issuance came from: a device on the enroll port, the renewal sweep or a renew call, else the API. */
export function issuanceSource(job: { renewedFromId?: string | null; actor: { type: string } }): string {
  if (job.actor.type === 'device') return 'enroll';
  if (job.actor.type === 'acmeAccount') return 'acme';
  return job.renewedFromId ? 'renewal' : 'api';
}

/** How a job ends: completed; refused (an UnrecoverableError: the caller's mistake, not retried); failed (retried). */
const JOB_OUTCOMES = ['completed', 'refused', 'failed'] as const;

/** The outcome label of a job's end: refusals (UnrecoverableError) are not retried, other failures are. */
export const jobOutcomeOf = (error: unknown): (typeof JOB_OUTCOMES)[number] => (error instanceof UnrecoverableError ? 'refused' : 'failed');

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

@Injectable()
export class SignerMetricsCollector implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SignerMetricsCollector.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly queue: SignerQueue,
  ) {}

  onModuleInit(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.config.METRICS_COLLECT_INTERVAL_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One collection at a time: a slow database skips ticks rather than piling queries up. */
  private tick(): void {
    if (this.running) return;
    this.running = this.collect()
      .then(() => void metricsCollections.inc({ outcome: 'ok' }))
      .catch((err: Error) => {
        metricsCollections.inc({ outcome: 'failed' });
        this.logger.warn({ err: err.message }, 'metrics collection failed');
      })
      .finally(() => (this.running = null));
  }

  /** Four round trips: the queue's counts, then one query per SQL-backed gauge family. */
  async collect(): Promise<void> {
    const counts = await this.queue.queue.getJobCounts(...QUEUE_STATES);
    for (const state of QUEUE_STATES) queueJobs.set({ queue: SIGNER_QUEUE, state }, counts[state] ?? 0);
    const manager = this.dataSource.manager;
    const [ocsp, crls, expiring] = await Promise.all([stalestOcspSecondsByCa(manager), crlNextUpdateSecondsByCa(manager), expiringCertificatesByCa(manager)]);
    ocspExpiring.reset();
    for (const [caId, seconds] of ocsp) ocspExpiring.set({ ca_id: caId }, seconds);
    crlNextUpdate.reset();
    for (const [caId, seconds] of crls) crlNextUpdate.set({ ca_id: caId }, seconds);
    certificatesExpiring.reset();
    for (const e of expiring) {
      const auto_renew = String(e.autoRenew);
      certificatesExpiring.set({ ca_id: e.caId, within: '7d', auto_renew }, e.within7d);
      certificatesExpiring.set({ ca_id: e.caId, within: '30d', auto_renew }, e.within30d);
    }
  }
}

// The bounded label sets export from the start (0): every job name of the registry with each outcome, so
// the job failure ratio is 0 rather than undefined and a first failure after a restart is seen by rate().
// Families labelled by CA or profile id (issued, revoked) start at their first event.
const jobNames = Object.values(SIGNER_JOBS);
startAtZero(signerJobs, { job: jobNames, outcome: JOB_OUTCOMES });
startAtZero(signerJobDuration, { job: jobNames });
startAtZero(renewals, { outcome: ['renewed', 'failed'] });
startAtZero(metricsCollections, { outcome: ['ok', 'failed'] });
