import type { CertificateEntity } from '@signet/persistence';
import { toPem } from '@signet/pki';

const DAY_MS = 86_400_000;

/** API.md's `certificate` object; `expired` and `daysRemaining` are derived from validTo. */
export function certificateView(row: CertificateEntity, now = Date.now()) {
  const status = row.status === 'revoked' ? 'revoked' : row.validTo.getTime() <= now ? 'expired' : 'active';
  return {
    id: row.id,
    caId: row.caId,
    commonName: row.commonName,
    subject: row.subject,
    sanDns: row.sanDns,
    sanIp: row.sanIp,
    sanEmail: row.sanEmail,
    sanUri: row.sanUri,
    keyAlgorithm: row.keyAlgorithm,
    serialNumber: row.serialNumber,
    fingerprintSha256: row.fingerprintSha256,
    usage: row.usage,
    extendedKeyUsage: row.extendedKeyUsage,
    mode: row.mode,
    validFrom: row.validFrom.toISOString(),
    validTo: row.validTo.toISOString(),
    daysRemaining: Math.max(0, Math.floor((row.validTo.getTime() - now) / DAY_MS)),
    status,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revocationReason: row.revocationReason,
    autoRenew: row.autoRenew,
    renewalThresholdDays: row.renewalThresholdDays,
    renewedFromId: row.renewedFromId,
    supersededById: row.supersededById,
    hasStoredKey: row.encryptedKey !== null,
    notes: row.notes,
    createdAt: row.createdAt.toISOString(),
  };
}

export const certificatePem = (row: CertificateEntity) => toPem('CERTIFICATE', row.certificateDer);
