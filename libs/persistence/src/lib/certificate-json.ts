/**
 * API.md's `certificate` object for a stored row, one definition for every producer that answers with
 * it (the gateway's API and the enroll server). `status` says expired once validTo has passed, and
 * `daysRemaining` counts whole days left; neither is stored.
 */
import { RenewalStateJson, expiringSoon, renewalStateOf } from './renewal-state';
import type { CertificateEntity, SubjectRecord } from './entities';

const DAY_MS = 86_400_000;

export interface CertificateJson {
  id: string;
  caId: string | null;
  commonName: string;
  subject: SubjectRecord;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  sanUri: string[];
  keyAlgorithm: string;
  serialNumber: string;
  fingerprintSha256: string;
  usage: string;
  extendedKeyUsage: string[];
  mode: string;
  validFrom: string;
  validTo: string;
  daysRemaining: number;
  status: 'active' | 'expired' | 'revoked';
  revokedAt: string | null;
  revocationReason: string | null;
  revocationComments: string | null;
  autoRenew: boolean;
  renewalThresholdDays: number;
  renewedFromId: string | null;
  supersededById: string | null;
  profileId: string | null;
  environment: string | null;
  source: string;
  issuer: string | null;
  acmeAccountId: string | null;
  renewal: RenewalStateJson;
  expiringSoon: boolean;
  hasStoredKey: boolean;
  notes: string | null;
  createdAt: string;
}

/** The columns API.md's `certificate` object is made of: what certificateJson reads, and what an issuance's answer carries (issued-certificate.ts). */
export const CERTIFICATE_JSON_COLUMNS = [
  'id', 'caId', 'commonName', 'subject', 'sanDns', 'sanIp', 'sanEmail', 'sanUri', 'keyAlgorithm', 'serialNumber', 'fingerprintSha256',
  'usage', 'extendedKeyUsage', 'mode', 'validFrom', 'validTo', 'status', 'revokedAt', 'revocationReason', 'revocationComments',
  'autoRenew', 'renewalThresholdDays', 'renewedFromId', 'supersededById', 'profileId', 'environment', 'source', 'issuerDn',
  'acmeAccountId', 'renewalStatus', 'renewalLastAttemptAt', 'renewalLastError', 'renewalNextAttemptAt', 'notes', 'createdAt',
] as const satisfies readonly (keyof CertificateEntity)[];

export type CertificateJsonSource = Pick<CertificateEntity, (typeof CERTIFICATE_JSON_COLUMNS)[number]>;

/**
 * A stored row (whose encryptedKey says whether a key is kept), or what an issuance answered with
 * (issued-certificate.ts: it carries only hasStoredKey, never the key).
 */
export function certificateJson(row: CertificateJsonSource & ({ encryptedKey: Buffer | null } | { hasStoredKey: boolean }), now = Date.now()): CertificateJson {
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
    status: row.status === 'revoked' ? 'revoked' : row.validTo.getTime() <= now ? 'expired' : 'active',
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revocationReason: row.revocationReason,
    revocationComments: row.revocationComments ?? null,
    autoRenew: row.autoRenew,
    renewalThresholdDays: row.renewalThresholdDays,
    renewedFromId: row.renewedFromId,
    supersededById: row.supersededById,
    profileId: row.profileId ?? null,
    environment: row.environment ?? null,
    source: row.source ?? 'issued',
    issuer: row.issuerDn ?? null,
    acmeAccountId: row.acmeAccountId ?? null,
    renewal: renewalStateOf(row, now),
    expiringSoon: expiringSoon(row, now),
    hasStoredKey: 'hasStoredKey' in row ? row.hasStoredKey : row.encryptedKey !== null,
    notes: row.notes,
    createdAt: row.createdAt.toISOString(),
  };
}
