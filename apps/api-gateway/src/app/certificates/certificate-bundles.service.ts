/**
 * Certificates from elsewhere (API.md section 8): a bundle (PEM or PKCS#12) read and judged by
 * libs/pki bundle.ts. validate stores nothing and keeps nothing of the key; import puts the certificate
 * in the org's inventory (source `imported`, no Signet CA) with its chain, and its key, if given,
 * encrypted under MASTER_KEY by a signer exactly as a stored managed key (the gateway seals it to the
 * signers' transport key and keeps only the encrypted blob).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificateEntity, certificatesById, deleteCertificateFromElsewhere, insertCertificates, isUniqueViolation } from '@signet/persistence';
import { Bundle, BundleFinding, BundleInputError, BundleReport, checkBundle, exportPrivateKeyPem, readBundle } from '@signet/pki';
import { ApiError, Clock, SignerClient } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { OrgCaller } from '../access/caller';
import { AuditService } from '../audit/audit.service';
import type { CertificateBundleDto, ImportCertificateDto, ValidateCertificateDto } from './certificate-bundle.dto';
import { certificatePem, certificateView } from './certificate.view';
import { certificateFromElsewhere, wrapPrivateKey } from './from-elsewhere';
import { RenewalMethods } from './renewal-methods';

const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}\s*$/;

/** The input field each finding is about, for a 400 that names it. */
const FIELD_OF: Record<string, string> = {
  key_mismatch: 'privateKeyPem', chain_order: 'chainPem', chain_broken: 'chainPem', domain_not_covered: 'domain',
};

@Injectable()
export class CertificateBundlesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly signer: SignerClient,
    private readonly audit: AuditService,
    private readonly renewalMethods: RenewalMethods,
  ) {}

  /** The inputs read, or 400 validation_failed naming the field that could not be. */
  read(dto: CertificateBundleDto): Bundle {
    if (!dto.certificatePem && !dto.pfxBase64) {
      throw ApiError.validation([{ field: 'certificatePem', messages: ['give certificatePem (PEM) or pfxBase64 (a PKCS#12 file)'] }]);
    }
    if (dto.pfxBase64 !== undefined && !BASE64.test(dto.pfxBase64)) throw ApiError.validation([{ field: 'pfxBase64', messages: ['pfxBase64 is not base64'] }]);
    try {
      return readBundle({
        certificatePem: dto.certificatePem, chainPem: dto.chainPem, privateKeyPem: dto.privateKeyPem,
        pfx: dto.pfxBase64 !== undefined ? Buffer.from(dto.pfxBase64, 'base64') : undefined, pfxPassword: dto.pfxPassword,
      });
    } catch (error) {
      if (error instanceof BundleInputError) throw ApiError.validation([{ field: error.field === 'pfx' ? 'pfxBase64' : error.field, messages: [error.message] }]);
      throw error;
    }
  }

  validate(dto: ValidateCertificateDto): BundleReport {
    return checkBundle(this.read(dto), { now: this.clock.now(), domain: dto.domain });
  }

  /**
   * `discovered`: what an agent found on a host (API.md section 10) is taken in as it is, expired or not
   * yet valid: the inventory is where such a certificate is to be seen.
   */
  async import(caller: OrgCaller, dto: ImportCertificateDto, source: 'imported' | 'discovered' = 'imported') {
    const bundle = this.read(dto);
    const report = checkBundle(bundle, { now: this.clock.now() });
    const errors = source === 'discovered' ? report.errors.filter((e) => e.code !== 'expired' && e.code !== 'not_yet_valid') : report.errors;
    if (errors.length) throw ApiError.validation(fieldsOf(errors, dto));
    if (dto.autoRenew && !dto.renewWith) {
      throw new ApiError('policy_violation', 'a certificate from elsewhere renews automatically only with renewWith: {profileId} (a Signet profile issues its renewal) or {acmeAccountId} (its outside ACME CA does)', { rule: 'autoRenew', field: 'autoRenew' });
    }
    const id = randomUUID();
    const fields = { id, orgId: caller.principal.orgId, source, notes: dto.notes ?? null, autoRenew: dto.autoRenew ?? false, renewalThresholdDays: dto.renewalThresholdDays ?? 30, renewedFromId: null };
    // How it renews is settled before its key goes to a signer to be encrypted: a refusal costs nothing.
    const renewal = dto.renewWith ? await this.renewalMethods.choose(caller, dto.renewWith, certificateFromElsewhere(bundle, report, { ...fields, encryptedKey: null })) : null;
    const encryptedKey = bundle.privateKey ? await wrapPrivateKey(this.signer, exportPrivateKeyPem(bundle.privateKey)) : null;
    const row = certificateFromElsewhere(bundle, report, { ...fields, encryptedKey });
    try {
      await this.dataSource.transaction(async (manager) => {
        await insertCertificates(manager, [row]);
        if (renewal) await this.renewalMethods.keep(manager, id, renewal);
        await this.audit.record(caller, {
          eventType: 'certificate.import', resourceType: 'certificate', resourceId: id,
          details: { commonName: row.commonName, serialNumber: row.serialNumber, issuer: row.issuerDn, source, withKey: encryptedKey !== null, warnings: report.warnings.map((w) => w.code) },
        }, manager);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError('conflict', 'this certificate is already in the inventory', { fingerprintSha256: row.fingerprintSha256 });
      throw error;
    }
    const stored = (await certificatesById(this.dataSource.manager, [id])).get(id) as CertificateEntity;
    return { certificate: { ...certificateView(stored), certificatePem: certificatePem(stored), chainPem: stored.chainPem ?? '' }, warnings: report.warnings };
  }

  /** DELETE: a certificate from elsewhere leaves the inventory; one a Signet CA issued is revoked instead (409). */
  async remove(caller: OrgCaller, id: string, row: CertificateEntity): Promise<void> {
    if (row.caId) throw new ApiError('conflict', 'a Signet CA issued this certificate: revoke it (POST .../revoke) instead of deleting it');
    await this.dataSource.transaction(async (manager) => {
      if (!(await deleteCertificateFromElsewhere(manager, id, caller.principal.orgId))) throw ApiError.notFound('certificate');
      await this.audit.record(caller, { eventType: 'certificate.delete', resourceType: 'certificate', resourceId: id, details: { serialNumber: row.serialNumber, issuer: row.issuerDn } }, manager);
    });
  }
}

function fieldsOf(errors: BundleFinding[], dto: CertificateBundleDto) {
  const byField = new Map<string, string[]>();
  for (const error of errors) {
    const field = FIELD_OF[error.code] ?? (dto.certificatePem ? 'certificatePem' : 'pfxBase64');
    byField.set(field, [...(byField.get(field) ?? []), error.message]);
  }
  return [...byField].map(([field, messages]) => ({ field, messages }));
}
