/**
 * A renewal, derived from the certificate it replaces: the one derivation the REST renew and the signer's
 * renewal sweep share. Same CA, profile, mode, subject, SANs, key algorithm and settings; under a profile
 * the profile decides validity and usage again (it may have changed since), without one the original
 * validity (at most 397 days) and the original usage and EKU are kept.
 *
 * A certificate from elsewhere renewed under a Signet profile (`renewWith: {profileId}`, API.md section 8)
 * is issued anew by that profile's CA: same subject and SANs, the profile's validity and usage, and a new
 * key made and kept by the signer (its old key, if it came with one, is not carried over: a renewal is the
 * moment to rotate it), or the key of a CSR the REST renew is given.
 */
import { IssueCertificateJob, JobActor, KEY_ALGORITHM_NAMES } from './signer-jobs';

/** The fields of a stored certificate a renewal reads (CertificateEntity has them all). */
export interface RenewableCertificate {
  id: string;
  orgId: string;
  /** null: a certificate from elsewhere (then renewed under renewProfileId). */
  caId: string | null;
  profileId: string | null;
  renewProfileId: string | null;
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
  /** csr mode: the new request (PEM); for a certificate from elsewhere, a CSR makes the renewal csr-mode. */
  csrPem?: string;
  validityDays?: number;
  /** A certificate from elsewhere: the CA of its renewProfileId, which issues the renewal. */
  profileCaId?: string;
}

const DAY_MS = 86_400_000;
const MAX_LEAF_DAYS = 397;

export function renewalJob(old: RenewableCertificate, request: RenewalRequest): IssueCertificateJob {
  const { commonName: _cn, ...rest } = old.subject;
  const subject = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as NonNullable<IssueCertificateJob['subject']>;
  const originalDays = Math.min(MAX_LEAF_DAYS, Math.max(1, Math.round((old.validTo.getTime() - old.validFrom.getTime()) / DAY_MS)));
  const { caId, profileId, mode, storeKey, keyAlgorithm } = issuerOf(old, request);
  const underProfile = profileId !== null;
  return {
    issuanceKey: request.issuanceKey,
    certificateId: request.certificateId,
    orgId: old.orgId,
    caId,
    profileId: profileId ?? undefined,
    mode,
    commonName: old.commonName,
    sans: { dns: [...old.sanDns], ip: [...old.sanIp], email: [...old.sanEmail], uri: [...old.sanUri] },
    csrPem: request.csrPem,
    keyAlgorithm,
    validityDays: request.validityDays ?? (underProfile ? undefined : originalDays),
    usage: underProfile ? undefined : old.usage,
    extendedKeyUsage: underProfile ? undefined : old.extendedKeyUsage,
    subject: Object.keys(subject).length ? subject : undefined,
    notes: old.notes ?? undefined,
    autoRenew: old.autoRenew,
    renewalThresholdDays: old.renewalThresholdDays,
    storeKey,
    renewedFromId: old.id,
    actor: request.actor,
  };
}

/** Who issues the renewal and how: the certificate's own CA and profile, or (from elsewhere) its renewal profile's. */
function issuerOf(old: RenewableCertificate, request: RenewalRequest): Pick<IssueCertificateJob, 'caId' | 'mode' | 'storeKey' | 'keyAlgorithm'> & { profileId: string | null } {
  if (old.caId !== null) return { caId: old.caId, profileId: old.profileId, mode: old.mode, storeKey: old.encryptedKey !== null, keyAlgorithm: old.keyAlgorithm };
  if (!old.renewProfileId || !request.profileCaId) throw new Error(`certificate ${old.id} is from elsewhere and is not renewed under a Signet profile`);
  const mode = request.csrPem ? 'csr' : 'managed';
  // Its issuer may have used an algorithm Signet does not make (RSA-1024, P-521): then the profile's default.
  const known = (KEY_ALGORITHM_NAMES as readonly string[]).includes(old.keyAlgorithm as string);
  return { caId: request.profileCaId, profileId: old.renewProfileId, mode, storeKey: mode === 'managed', keyAlgorithm: known && mode === 'managed' ? old.keyAlgorithm : undefined };
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
