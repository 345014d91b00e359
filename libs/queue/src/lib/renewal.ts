/**
 * A renewal, derived from the certificate it replaces: the one derivation the REST renew and the signer's
 * renewal sweep share. Same CA, profile, mode, subject, SANs, key algorithm and settings; under a profile
 * the profile decides validity and usage again (it may have changed since), without one the original
 * validity (at most 397 days) and the original usage and EKU are kept.
 */
import type { IssueCertificateJob, JobActor } from './signer-jobs';

/** The fields of a stored certificate a renewal reads (CertificateEntity has them all). */
export interface RenewableCertificate {
  id: string;
  orgId: string;
  caId: string;
  profileId: string | null;
  mode: 'managed' | 'csr';
  commonName: string;
  subject: { commonName?: string } & Partial<Record<keyof NonNullable<IssueCertificateJob['subject']>, string>>;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  sanUri: string[];
  keyAlgorithm: IssueCertificateJob['keyAlgorithm'];
  usage: string;
  extendedKeyUsage: string[];
  notes: string | null;
  autoRenew: boolean;
  renewalThresholdDays: number;
  encryptedKey: Buffer | null;
  validFrom: Date;
  validTo: Date;
}

export interface RenewalRequest {
  certificateId: string;
  issuanceKey: string;
  actor: JobActor;
  /** csr mode: the new request (PEM). */
  csrPem?: string;
  validityDays?: number;
}

const DAY_MS = 86_400_000;
const MAX_LEAF_DAYS = 397;

export function renewalJob(old: RenewableCertificate, request: RenewalRequest): IssueCertificateJob {
  const { commonName: _cn, ...rest } = old.subject;
  const subject = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as NonNullable<IssueCertificateJob['subject']>;
  const originalDays = Math.min(MAX_LEAF_DAYS, Math.max(1, Math.round((old.validTo.getTime() - old.validFrom.getTime()) / DAY_MS)));
  const underProfile = old.profileId !== null;
  return {
    issuanceKey: request.issuanceKey,
    certificateId: request.certificateId,
    orgId: old.orgId,
    caId: old.caId,
    profileId: old.profileId ?? undefined,
    mode: old.mode,
    commonName: old.commonName,
    sans: { dns: [...old.sanDns], ip: [...old.sanIp], email: [...old.sanEmail], uri: [...old.sanUri] },
    csrPem: request.csrPem,
    keyAlgorithm: old.keyAlgorithm,
    validityDays: request.validityDays ?? (underProfile ? undefined : originalDays),
    usage: underProfile ? undefined : old.usage,
    extendedKeyUsage: underProfile ? undefined : old.extendedKeyUsage,
    subject: Object.keys(subject).length ? subject : undefined,
    notes: old.notes ?? undefined,
    autoRenew: old.autoRenew,
    renewalThresholdDays: old.renewalThresholdDays,
    storeKey: old.encryptedKey !== null,
    renewedFromId: old.id,
    actor: request.actor,
  };
}

/**
 * Why automatic renewal of a certificate could never succeed, or null when it can: a managed key that was
 * not kept (nobody could ever receive the new one), or a CA whose key needs a passphrase (the sweep has
 * none). The one rule the signer's issuance (autoRenew on a new certificate) and the gateway's PATCH share.
 */
export function whyRenewalCannotWork(certificate: { mode: 'managed' | 'csr'; keptKey: boolean; caHasPassphrase: boolean }): string | null {
  if (certificate.mode === 'managed' && !certificate.keptKey) {
    return 'autoRenew needs storeKey: true for a managed certificate (a renewed key nobody kept could never be handed out)';
  }
  if (certificate.caHasPassphrase) return "autoRenew is not possible under a CA whose key needs a passphrase (the renewal sweep has none)";
  return null;
}
