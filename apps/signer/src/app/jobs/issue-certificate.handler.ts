/**
 * `certificate.issue`: check the CA and the request against policy, make the key pair (managed) or
 * verify the CSR, build and sign the leaf, and commit the row with its audit event in one transaction.
 * The job's `issuanceKey` is unique in the table: a retry after a crash finds the committed row.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificateAuthorityEntity, CertificateEntity, insertAuditEvents } from '@signet/persistence';
import {
  DistinguishedName, SubjectAltNames, buildCertificate, encodeName, encryptPrivateKey, exportPrivateKeyPem, generateKeyPair,
  namesOutside, normalizeSubjectAltNames, parseCsr,
} from '@signet/pki';
import { IssueCertificateJob, IssueCertificateResult, seal } from '@signet/queue';
import { isIP } from 'node:net';
import { DataSource, IsNull } from 'typeorm';
import { refuse } from '../job-failure';
import { auditActor } from './audit-actor';
import { CaKeyring } from '../keys/ca-keyring';
import { OcspSigner } from '../revocation/ocsp-signer';

const DAY_MS = 86_400_000;
const BACKDATE_MS = 60_000;
const DNS_LIKE = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?$/;

@Injectable()
export class IssueCertificateHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly ocsp: OcspSigner,
  ) {}

  async handle(job: IssueCertificateJob): Promise<IssueCertificateResult> {
    const certificates = this.dataSource.getRepository(CertificateEntity);
    const done = await certificates.findOne({ select: { id: true }, where: { issuanceKey: job.issuanceKey } });
    if (done) return { certificateId: done.id };

    const ca = await this.dataSource.getRepository(CertificateAuthorityEntity).findOneBy({ id: job.caId, orgId: job.orgId });
    if (!ca) throw refuse('not_found', 'certificate authority not found');
    const now = Date.now();
    if (ca.status === 'revoked') throw refuse('ca_unavailable', 'the certificate authority is revoked');
    if (ca.validTo.getTime() <= now) throw refuse('ca_unavailable', 'the certificate authority has expired');
    const notAfter = new Date(Math.floor((now + job.validityDays * DAY_MS) / 1000) * 1000);
    if (notAfter.getTime() > ca.validTo.getTime()) {
      throw refuse('policy_violation', `validityDays reaches past the CA's validTo (${ca.validTo.toISOString()})`, { field: 'validityDays' });
    }
    const issuer = await this.keyring.issuer(ca, job.caPassphrase);

    const csr = job.mode === 'csr' ? await parseCsr(job.csrPem ?? '') : null;
    const commonName = job.commonName ?? csr?.commonName;
    if (!commonName) throw refuse('validation_failed', 'commonName is required (in the request or the CSR)', { field: 'commonName' });
    const requested: Partial<SubjectAltNames> = hasSans(job.sans)
      ? job.sans
      : { dns: csr?.sanDns ?? [], ip: csr?.sanIp ?? [], email: csr?.sanEmail ?? [], uri: csr?.sanUri ?? [] };
    const sans = withCommonName(requested, commonName);
    const outside = namesOutside(sans.dns, ca.permittedDnsDomains);
    if (outside.length) {
      throw refuse('policy_violation', `${outside.join(', ')} outside the CA's permitted domains (${ca.permittedDnsDomains.join(', ')})`, { field: 'sanDns' });
    }

    const keys = csr ? null : await generateKeyPair(job.keyAlgorithm);
    const subject: DistinguishedName = { ...(job.subject ?? {}), commonName };
    const base = job.publicBaseUrl.replace(/\/$/, '');
    const certificate = await buildCertificate({
      kind: 'leaf',
      subject: csr && !job.commonName && !job.subject ? csr.subjectDer : encodeName(subject),
      publicKey: csr ? csr.spkiDer : keys!.publicKey,
      publicKeyAlgorithm: csr?.keyAlgorithm,
      issuer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      sans,
      extendedKeyUsage: job.extendedKeyUsage,
      crlUrl: `${base}/pki/cas/${ca.id}/crl`,
      ocspUrl: `${base}/pki/ocsp`,
      caIssuersUrl: `${base}/pki/cas/${ca.id}/ca.crt`,
    });
    const keyAlgorithm = csr ? csr.keyAlgorithm : job.keyAlgorithm;
    const encryptedKey = keys && job.storeKey ? await encryptPrivateKey(keys.privateKey, this.keyring.master) : null;
    // Its OCSP answer exists before the certificate does (RFC 5019: responses are signed ahead).
    const ocspGood = await this.ocsp.sign(ca, issuer, { serialNumber: certificate.serialNumber, certificateId: job.certificateId });

    try {
      await this.dataSource.transaction(async (manager) => {
        await manager.getRepository(CertificateEntity).insert({
          id: job.certificateId,
          orgId: job.orgId,
          caId: ca.id,
          serialNumber: certificate.serialNumber,
          fingerprintSha256: certificate.fingerprintSha256,
          commonName,
          subject: csr && !job.commonName && !job.subject ? { ...csr.subject } : subject,
          sanDns: sans.dns,
          sanIp: sans.ip,
          sanEmail: sans.email,
          sanUri: sans.uri,
          keyAlgorithm,
          usage: job.usage,
          extendedKeyUsage: job.extendedKeyUsage,
          mode: job.mode,
          validFrom: certificate.notBefore,
          validTo: certificate.notAfter,
          status: 'active',
          autoRenew: job.autoRenew,
          renewalThresholdDays: job.renewalThresholdDays,
          certificateDer: certificate.der,
          csrDer: csr?.der ?? null,
          encryptedKey,
          notes: job.notes ?? null,
          issuanceKey: job.issuanceKey,
          renewedFromId: job.renewedFromId ?? null,
        });
        await this.ocsp.store(manager, [ocspGood]);
        if (job.renewedFromId) {
          const old = await manager.getRepository(CertificateEntity).update(
            { id: job.renewedFromId, orgId: job.orgId, supersededById: IsNull() },
            { supersededById: job.certificateId },
          );
          if (!old.affected) throw refuse('conflict', 'the certificate was already renewed');
        }
        await insertAuditEvents(manager, [{
          orgId: job.orgId, eventType: job.renewedFromId ? 'certificate.renew' : 'certificate.issue', outcome: 'success',
          ...auditActor(job.actor),
          resourceType: 'certificate', resourceId: job.certificateId,
          details: { caId: ca.id, mode: job.mode, commonName, serialNumber: certificate.serialNumber, keyAlgorithm, storeKey: job.storeKey, renewedFromId: job.renewedFromId ?? null },
        }]);
      });
    } catch (error) {
      const again = (error as { code?: string }).code === '23505'
        ? await certificates.findOne({ select: { id: true }, where: { issuanceKey: job.issuanceKey } })
        : null;
      if (again) return { certificateId: again.id };
      throw error;
    }
    const sealedPrivateKey = keys && job.recipientKey ? seal(exportPrivateKeyPem(keys.privateKey), job.recipientKey) : undefined;
    return { certificateId: job.certificateId, sealedPrivateKey };
  }
}

const hasSans = (s: IssueCertificateJob['sans']) => s.dns.length + s.ip.length + s.email.length + s.uri.length > 0;

/** API.md: a common name that is a DNS name or an IP address is also placed in the SANs. */
function withCommonName(requested: Partial<SubjectAltNames>, commonName: string): SubjectAltNames {
  const extra: Partial<SubjectAltNames> = isIP(commonName) ? { ip: [commonName] } : DNS_LIKE.test(commonName) ? { dns: [commonName] } : {};
  return normalizeSubjectAltNames({
    dns: [...(extra.dns ?? []), ...(requested.dns ?? [])],
    ip: [...(extra.ip ?? []), ...(requested.ip ?? [])],
    email: requested.email ?? [],
    uri: requested.uri ?? [],
  });
}
