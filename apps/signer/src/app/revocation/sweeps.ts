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
import { CertificateAuthorityEntity, CertificateEntity, RevocationReasonName, purgeAuditEvents } from '@signet/persistence';
import { toPem } from '@signet/pki';
import { renewalJob } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { DataSource, In } from 'typeorm';
import { IssueCertificateHandler } from '../jobs/issue-certificate.handler';
import { CaKeyring } from '../keys/ca-keyring';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { OcspSigner, OcspSubject } from './ocsp-signer';
import { SignerQueue } from './signer-queue';

const OCSP_BATCH = 500;
/** A sweep stops after this long and leaves the rest to the next one, so it never hogs a worker slot. */
const SWEEP_BUDGET_MS = 50_000;
const RENEWAL_BATCH = 100;
const AUDIT_PURGE_BATCH = 10_000;

interface DueResponse {
  serial_number: string;
  ca_id: string;
  certificate_id: string | null;
  subject_ca_id: string | null;
  revoked_at: Date | null;
  revocation_reason: RevocationReasonName | null;
}

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
  ) {}

  async revocation(): Promise<{ ocspRefreshed: number; crlsScheduled: number }> {
    const started = Date.now();
    let ocspRefreshed = 0;
    for (;;) {
      const due: DueResponse[] = await this.dataSource.query(
        `SELECT o.serial_number, o.ca_id, o.certificate_id, o.subject_ca_id,
                coalesce(c.revoked_at, sc.revoked_at) AS revoked_at, coalesce(c.revocation_reason, sc.revocation_reason) AS revocation_reason
           FROM ocsp_responses o
           JOIN cas ca ON ca.id = o.ca_id AND NOT ca.has_passphrase AND ca.valid_to > now()
           LEFT JOIN certificates c ON c.id = o.certificate_id
           LEFT JOIN cas sc ON sc.id = o.subject_ca_id
          WHERE o.next_update < now() + make_interval(secs => $1)
            AND coalesce(c.valid_to, sc.valid_to) > now()
          ORDER BY o.next_update LIMIT ${OCSP_BATCH}`,
        [this.config.OCSP_REFRESH_MARGIN_SECONDS],
      );
      if (!due.length) break;
      ocspRefreshed += await this.refresh(due);
      if (due.length < OCSP_BATCH || Date.now() - started > SWEEP_BUDGET_MS) break;
    }
    const crls: { id: string }[] = await this.dataSource.query(
      `SELECT ca.id FROM cas ca LEFT JOIN crls c ON c.ca_id = ca.id
        WHERE NOT ca.has_passphrase AND ca.valid_to > now()
          AND (c.ca_id IS NULL
               OR c.next_update < now() + make_interval(secs => $1)
               OR EXISTS (SELECT 1 FROM certificates x WHERE x.ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2))
               OR EXISTS (SELECT 1 FROM cas x WHERE x.parent_ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2)))`,
      // A revocation is "missed" only once its own scheduled rebuild should long have run.
      [this.config.CRL_REFRESH_MARGIN_SECONDS, (2 * this.config.CRL_REBUILD_DELAY_MS) / 1000 + 5],
    );
    for (const { id } of crls) await this.queue.buildCrlSoon(id);
    return { ocspRefreshed, crlsScheduled: crls.length };
  }

  private async refresh(due: DueResponse[]): Promise<number> {
    const cas = await this.dataSource.getRepository(CertificateAuthorityEntity).findBy({ id: In([...new Set(due.map((d) => d.ca_id))]) });
    const byId = new Map(cas.map((ca) => [ca.id, ca]));
    const signed = [];
    for (const row of due) {
      const ca = byId.get(row.ca_id)!;
      const subject: OcspSubject = {
        serialNumber: row.serial_number, certificateId: row.certificate_id, subjectCaId: row.subject_ca_id,
        revokedAt: row.revoked_at, reason: row.revocation_reason,
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
   * certificates are re-certified from their stored CSR (the same key pair).
   */
  async renewal(): Promise<{ renewed: number; failed: number }> {
    const started = Date.now();
    let renewed = 0;
    let failed = 0;
    const tried = new Set<string>();
    while (Date.now() - started < SWEEP_BUDGET_MS) {
      const due = await this.dataSource.getRepository(CertificateEntity).createQueryBuilder('c')
        .innerJoin(CertificateAuthorityEntity, 'ca', 'ca.id = c.ca_id AND ca.status = :active AND NOT ca.has_passphrase AND ca.valid_to > now()', { active: 'active' })
        .where(`c.auto_renew AND c.status = 'active' AND c.superseded_by_id IS NULL AND c.valid_to > now()`)
        .andWhere(`c.valid_to <= now() + make_interval(days => c.renewal_threshold_days)`)
        .andWhere(`(c.mode = 'csr' AND c.csr_der IS NOT NULL OR c.mode = 'managed' AND c.encrypted_key IS NOT NULL)`)
        .andWhere(tried.size ? 'c.id NOT IN (:...tried)' : 'true', { tried: [...tried] })
        .orderBy('c.valid_to', 'ASC')
        .limit(RENEWAL_BATCH)
        .getMany();
      if (!due.length) break;
      for (const old of due) {
        tried.add(old.id);
        try {
          await this.issuance.handle(renewalJob(old, {
            certificateId: randomUUID(), issuanceKey: `renew-${old.id}`, actor: { type: 'system', id: null, name: 'renewal-sweep', ip: null },
            csrPem: old.csrDer ? toPem('CERTIFICATE REQUEST', old.csrDer) : undefined,
          }));
          renewed++;
        } catch (error) {
          failed++;
          this.logger.warn({ certificateId: old.id, err: (error as Error).message }, 'automatic renewal failed');
        }
      }
    }
    return { renewed, failed };
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
