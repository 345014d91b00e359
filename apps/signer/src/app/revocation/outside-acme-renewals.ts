/**
 * The renewal sweep's part for certificates from outside ACME CAs (API.md section 8): the signer reaches
 * no outside host, so it renews none of them itself. Those due by the one rule (RENEWAL_DUE_SQL, through
 * externalAcmeCertificatesDueForRenewal) get a renewal order, and the order a job on the gateways'
 * outside-ACME queue (libs/queue external-acme-jobs.ts); a gateway renews through the same account and
 * records the outcome on the certificate. One open renewal order per certificate (a unique index), and
 * one job per order (its id): a sweep that runs while one is pending adds nothing.
 */
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { externalAcmeCertificatesDueForRenewal, insertAuditEvents, openRenewalOrder } from '@signet/persistence';
import { EXTERNAL_ACME_JOB, EXTERNAL_ACME_QUEUE, ExternalAcmeOrderJob, externalAcmeJobOptions } from '@signet/queue';
import { REDIS } from '@signet/service';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';

const BATCH = 100;

@Injectable()
export class OutsideAcmeRenewals implements OnApplicationShutdown {
  private readonly queue: Queue<ExternalAcmeOrderJob>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SIGNER_CONFIG) config: SignerConfig,
    @Inject(REDIS) redis: Redis,
  ) {
    this.queue = new Queue<ExternalAcmeOrderJob>(EXTERNAL_ACME_QUEUE, { connection: redis, prefix: config.QUEUE_PREFIX });
    this.queue.on('error', () => undefined);
  }

  /** Hands what is due to the gateways; returns how many renewal orders it opened. */
  async handOff(): Promise<number> {
    let opened = 0;
    for (const certificate of await externalAcmeCertificatesDueForRenewal(this.dataSource.manager, BATCH)) {
      const renewal = await this.dataSource.transaction(async (manager) => {
        const result = await openRenewalOrder(manager, certificate.id, randomUUID());
        if (result?.created) {
          await insertAuditEvents(manager, [{
            orgId: certificate.orgId, eventType: 'certificate.obtain', outcome: 'pending', actorType: 'system', actorId: null, actorName: 'renewal-sweep',
            resourceType: 'external_acme_order', resourceId: result.order.id, details: { renews: certificate.id, domains: result.order.domains },
          }]);
        }
        return result;
      });
      if (!renewal) continue;
      // Added after the commit: a job never names an order that is not there (a re-added job is the same one).
      await this.queue.add(EXTERNAL_ACME_JOB, { orderId: renewal.order.id }, externalAcmeJobOptions(renewal.order.id));
      if (renewal.created) opened++;
    }
    return opened;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}
