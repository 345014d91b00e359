/**
 * The repeatable housekeeping every signer declares and any one of them runs (BullMQ hands each
 * scheduled job to one worker):
 * - revocation sweep: re-sign OCSP responses whose nextUpdate is within OCSP_REFRESH_MARGIN_SECONDS
 *   (with the certificate's current status), and schedule CRLs that are missing, due within
 *   CRL_REFRESH_MARGIN_SECONDS, or older than a revocation (a signer that died between a revocation's
 *   commit and its rebuild scheduling is caught here);
 * - renewal sweep: renew certificates with autoRenew inside their renewalThresholdDays;
 * - audit retention sweep: delete audit events older than AUDIT_RETENTION_DAYS (0: never), in batches,
 *   through the database's purge_audit_events (the append-only trigger refuses any other DELETE).
 *
 * Passphrase-protected CAs cannot be signed for without their passphrase, which is never stored: the
 * sweeps skip them (their CRL and OCSP are re-signed when a revocation brings the passphrase).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CertificateEntity, OcspResponseDue, casByIds, casDueForCrl, certificatesDueForRenewal, crlShardsDue, insertAuditEvents, liveProfilesById, markRenewalAttempt, ocspResponsesDueForRefresh,
  purgeAuditEvents, recordRenewalOutcome,
} from '@signet/persistence';
import { toPem } from '@signet/pki';
import { decodeJobFailure, renewalJob } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { IssueCertificateHandler } from '../jobs/issue-certificate.handler';
import { CaKeyring } from '../keys/ca-keyring';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { OcspSigner, OcspSubject } from './ocsp-signer';
import { SignerQueue } from './signer-queue';
import { OutsideAcmeRenewals } from './outside-acme-renewals';
import { renewals } from '../signer-metrics';

const OCSP_BATCH = 500;
/** A sweep stops after this long and leaves the rest to the next one, so it never hogs a worker slot. */
const SWEEP_BUDGET_MS = 50_000;
const RENEWAL_BATCH = 100;
const AUDIT_PURGE_BATCH = 10_000;

@Injectable()
export class Sweeps {
  private readonly logger = new Logger(Sweeps.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    private readonly keyring: CaKeyring,
    private readonly ocsp: OcspSigner,
    private readonly queue: SignerQueue,
    private readonly issuance: IssueCertificateHandler,
    private readonly outsideAcme: OutsideAcmeRenewals,
  ) {}

  async revocation(): Promise<{ ocspRefreshed: number; crlsScheduled: number }> {
    const started = Date.now();
    let ocspRefreshed = 0;
    for (;;) {
      const due = await ocspResponsesDueForRefresh(this.dataSource.manager, this.config.OCSP_REFRESH_MARGIN_SECONDS, OCSP_BATCH);
      if (!due.length) break;
      ocspRefreshed += await this.refresh(due);
      if (due.length < OCSP_BATCH || Date.now() - started > SWEEP_BUDGET_MS) break;
    }
    // A revocation is "missed" only once its own scheduled rebuild should long have run.
    const missedAfterSeconds = (2 * this.config.CRL_REBUILD_DELAY_MS) / 1000 + 5;
    const crls = await casDueForCrl(this.dataSource.manager, this.config.CRL_REFRESH_MARGIN_SECONDS, missedAfterSeconds);
    for (const id of crls) await this.queue.buildCrlSoon(id);
    const shards = await crlShardsDue(this.dataSource.manager, this.config.CRL_REFRESH_MARGIN_SECONDS, missedAfterSeconds);
    for (const { caId, shard } of shards) await this.queue.buildCrlSoon(caId, shard);
    return { ocspRefreshed, crlsScheduled: crls.length + shards.length };
  }

  private async refresh(due: OcspResponseDue[]): Promise<number> {
    const cas = await casByIds(this.dataSource.manager, [...new Set(due.map((d) => d.caId))]);
    const byId = new Map(cas.map((ca) => [ca.id, ca]));
    const signed = [];
    for (const row of due) {
      const ca = byId.get(row.caId)!;
      const subject: OcspSubject = {
        serialNumber: row.serialNumber, certificateId: row.certificateId, subjectCaId: row.subjectCaId, revokedAt: row.revokedAt, reason: row.reason,
      };
      signed.push(await this.ocsp.sign(ca, await this.keyring.issuer(ca), subject));
    }
    const stored = await this.ocsp.store(this.dataSource.manager, signed);
    await this.ocsp.publish(stored, 'refresh');
    return stored.length;
  }

  /**
   * Renew what is due: same CA, names, usage and key algorithm, through the issuance handler (so the
   * new certificate, its OCSP response, supersededById and the audit event commit together). Managed
   * certificates get a new key, kept (encrypted) where the original kept one; a managed certificate
   * without a stored key is not renewed here: nobody could ever receive its new key. CSR-mode
   * certificates are re-certified from their stored CSR (the same key pair). A certificate from
   * elsewhere renewed under a profile (`renewWith: {profileId}`) is issued anew by the profile's CA with a
   * new kept key. Certificates from outside ACME CAs are handed to the gateways
   * (outside-acme-renewals.ts): `handedOff` renewal orders.
   */
  async renewal(): Promise<{ renewed: number; failed: number; handedOff: number }> {
    const started = Date.now();
    let renewed = 0;
    let failed = 0;
    const tried = new Set<string>();
    while (Date.now() - started < SWEEP_BUDGET_MS) {
      const due = await certificatesDueForRenewal(this.dataSource.manager, tried, RENEWAL_BATCH);
      if (!due.length) break;
      const profiles = await liveProfilesById(this.dataSource.manager, due.flatMap((c) => (c.caId === null && c.renewProfileId ? [c.renewProfileId] : [])));
      for (const old of due) {
        tried.add(old.id);
        // Each attempt is on the certificate (API.md `renewal`): in progress, then renewed or failed with why.
        await markRenewalAttempt(this.dataSource.manager, old.id, new Date());
        try {
          const profileCaId = old.caId === null ? profiles.get(old.renewProfileId ?? '')?.caId : undefined;
          if (old.caId === null && !profileCaId) {
            throw new Error(`the profile it is renewed under (${old.renewProfileId}) was deleted: give it another with PATCH renewWith {profileId}`);
          }
          await this.issuance.handle(renewalJob(old, {
            certificateId: randomUUID(), issuanceKey: `renew-${old.id}`, actor: { type: 'system', id: null, name: 'renewal-sweep', ip: null },
            csrPem: old.caId !== null && old.csrDer ? toPem('CERTIFICATE REQUEST', old.csrDer) : undefined, profileCaId,
          }));
          await recordRenewalOutcome(this.dataSource.manager, old.id, { renewed: true });
          renewed++;
          renewals.inc({ outcome: 'renewed' });
        } catch (error) {
          failed++;
          renewals.inc({ outcome: 'failed' });
          await this.recordFailedRenewal(old, error as Error);
        }
      }
    }
    return { renewed, failed, handedOff: await this.outsideAcme.handOff() };
  }

  /** A failed attempt, on the certificate (its renewal state) and in the audit log (so to webhooks as certificate.renewal_failed). */
  private async recordFailedRenewal(old: CertificateEntity, error: Error): Promise<void> {
    // A refusal's message is the JSON the producer would decode (job-failure.ts): record its words.
    const failure = decodeJobFailure(error.message);
    const message = failure?.message ?? error.message;
    await this.dataSource.transaction(async (manager) => {
      await recordRenewalOutcome(manager, old.id, { error: message, nextAttemptAt: new Date(Date.now() + this.config.RENEWAL_SWEEP_INTERVAL_MS) });
      await insertAuditEvents(manager, [{
        orgId: old.orgId, eventType: 'certificate.renew', outcome: 'failed', actorType: 'system', actorId: null, actorName: 'renewal-sweep',
        resourceType: 'certificate', resourceId: old.id, error: { code: failure?.code ?? 'internal', message: message.slice(0, 1000) },
        details: { caId: old.caId, profileId: old.caId === null ? old.renewProfileId : old.profileId },
      }]);
    });
    this.logger.warn({ certificateId: old.id, err: message }, 'automatic renewal failed');
  }

  /** Delete the audit events past their retention, a batch per transaction, within the sweep's budget. */
  async auditRetention(): Promise<{ deleted: number }> {
    const days = this.config.AUDIT_RETENTION_DAYS;
    let deleted = 0;
    if (!days) return { deleted };
    const started = Date.now();
    for (;;) {
      const batch = await purgeAuditEvents(this.dataSource.manager, days, AUDIT_PURGE_BATCH);
      deleted += batch;
      if (batch < AUDIT_PURGE_BATCH || Date.now() - started > SWEEP_BUDGET_MS) break;
    }
    if (deleted) this.logger.log({ deleted, retentionDays: days }, 'audit events past their retention deleted');
    return { deleted };
  }
}
