/**
 * The contract between the producers (gateway, enroll) and the signer: one BullMQ queue, a job name
 * per operation, a payload class per job that the signer validates when it takes the job off the wire
 * (the queue is a trust boundary too), and a result type per job.
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import { MAX_CRL_SHARDS } from './crl-urls';
import {
  ArrayMaxSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Max, Min, ValidateNested,
} from 'class-validator';

export const SIGNER_QUEUE = 'signer';

export const SIGNER_JOBS = {
  createCa: 'ca.create',
  importCa: 'ca.import',
  issueCertificate: 'certificate.issue',
  issueMany: 'certificate.issueMany',
  /** Check an issuance against its CA and profile without signing (a request waiting for approval). */
  checkIssuance: 'certificate.check',
  exportKey: 'certificate.key',
  revokeCertificate: 'certificate.revoke',
  revokeCa: 'ca.revoke',
  buildCrl: 'crl.build',
  /** Change how many CRL shards a CA's new leaves are spread over, publishing the new shards' first CRLs. */
  setCrlShards: 'ca.crlShards',
  revocationSweep: 'revocation.sweep',
  renewalSweep: 'renewal.sweep',
  auditRetentionSweep: 'audit.retention',
  /** Check an ACME external account binding's MAC with the EAB key only a signer can open. */
  verifyEab: 'acme.verifyEab',
  /** Encrypt an imported certificate's private key under MASTER_KEY, as a stored managed key is. */
  wrapKey: 'key.wrap',
} as const;
export type SignerJobName = (typeof SIGNER_JOBS)[keyof typeof SIGNER_JOBS];

/**
 * CA passphrases travel sealed to the signers' transport key (sealed-box.ts), like an imported key:
 * job payloads stay in Redis for an hour after the job (so a retry finds its result), and Redis must
 * never hold a passphrase in the clear. A 1,024-character passphrase seals to about 1,500 characters.
 */
export const MAX_SEALED_PASSPHRASE = 2048;

/**
 * What is sealed: the passphrase bound to the one CA it opens and to a deadline, so a sealed blob copied
 * out of a job in Redis cannot be replayed in another job for another CA, nor after PASSPHRASE_SEAL_TTL_MS.
 */
export interface SealedPassphrase {
  passphrase: string;
  caId: string;
  notAfter: number;
}

/** Longer than any job's life with its retries and a signer restart; short enough to bound a replay. */
export const PASSPHRASE_SEAL_TTL_MS = 15 * 60_000;

export const KEY_ALGORITHM_NAMES = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;

/** Who asked, for the audit event the signer writes with the change. */
export class JobActor {
  @IsIn(['apiKey', 'device', 'system', 'acmeAccount'])
  type: 'apiKey' | 'device' | 'system' | 'acmeAccount';

  @IsOptional()
  @IsString()
  id: string | null;

  @IsOptional()
  @IsString()
  name: string | null;

  @IsOptional()
  @IsString()
  ip: string | null;
}

export class CaSubject {
  @IsString() @Length(1, 64) commonName: string;
  @IsOptional() @IsString() @Length(1, 64) organization?: string;
  @IsOptional() @IsString() @Length(1, 64) organizationalUnit?: string;
  @IsOptional() @IsString() @Length(2, 2) country?: string;
  @IsOptional() @IsString() @Length(1, 128) state?: string;
  @IsOptional() @IsString() @Length(1, 128) locality?: string;
}

/** A CA's validity when the request names none: ten years for a root, five for an intermediate. */
export const CA_DEFAULT_VALIDITY_DAYS = { root: 3650, intermediate: 1825 } as const;

/** Make a CA: a self-signed root, or an intermediate signed by `parentCaId`. */
export class CreateCaJob {
  /** Chosen by the producer: a retried job finds the CA it already made instead of making another. */
  @IsUUID() caId: string;
  @IsUUID() orgId: string;
  @IsString() @Length(1, 200) name: string;
  @ValidateNested() @Type(() => CaSubject) subject: CaSubject;
  @IsIn(KEY_ALGORITHM_NAMES as unknown as string[]) keyAlgorithm: (typeof KEY_ALGORITHM_NAMES)[number];
  /**
   * Absent: the default (CA_DEFAULT_VALIDITY_DAYS), for an intermediate cut at its parent's validTo. A
   * given value reaching past the parent is refused.
   */
  @IsOptional() @IsInt() @Min(1) @Max(36500) validityDays?: number;
  @IsOptional() @IsUUID() parentCaId?: string;
  @IsOptional() @IsInt() @Min(0) @Max(32) pathLength?: number;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) permittedDnsDomains?: string[];
  /** Protects the new CA's key (a scrypt layer over MASTER_KEY); sealed (MAX_SEALED_PASSPHRASE). */
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedPassphrase?: string;
  /** Opens the parent's key when the parent has a passphrase; sealed likewise. */
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedParentPassphrase?: string;
  /** CRL shards for its leaves (absent: 1, the full CRL only). */
  @IsOptional() @IsInt() @Min(1) @Max(MAX_CRL_SHARDS) crlShards?: number;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

export interface CreateCaResult {
  caId: string;
}

/**
 * Bring an externally signed CA. The private key (and the passphrase that will protect it) travel sealed
 * to the signers' transport key (sealed-box.ts): Redis never holds them in the clear.
 */
export class ImportCaJob {
  @IsUUID() caId: string;
  @IsUUID() orgId: string;
  @IsString() @Length(1, 200) name: string;
  @IsString() @Length(1, 65536) certificatePem: string;
  @IsOptional() @IsString() @Length(0, 262144) chainPem?: string;
  /** seal(JSON.stringify(ImportCaSecret), transport key) */
  @IsString() @Length(1, 65536) sealedSecret: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

export interface ImportCaSecret {
  privateKeyPem: string;
  passphrase?: string;
}

/** Hand out a stored (managed, storeKey) private key, sealed to the producer's ephemeral key. */
export class ExportKeyJob {
  @IsUUID() certificateId: string;
  @IsUUID() orgId: string;
  @IsString() @Length(1, 200) recipientKey: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

export interface ExportKeyResult {
  sealedPrivateKey: string;
}

/**
 * `acme.verifyEab`: whether the flattened JWS of an ACME newAccount's externalAccountBinding is MACed
 * (HS256/384/512) with the HMAC key of EAB key `eabKeyId`. The key is stored sealed to the signers'
 * transport key (derived from MASTER_KEY), so only a signer can check it.
 */
export class VerifyEabJob {
  @IsUUID() eabKeyId: string;
  @IsString() @Length(1, 4096) protected: string;
  @IsString() @Length(1, 8192) payload: string;
  @IsString() @Length(1, 1024) signature: string;
}

export interface VerifyEabResult {
  valid: boolean;
}

/** `key.wrap`: a private key (PEM) sealed to the signers' transport key, to be kept at rest. */
export class WrapKeyJob {
  @IsString() @Length(1, 20_000) sealedPrivateKey: string;
}

export interface WrapKeyResult {
  /** key-encryption.ts's blob under MASTER_KEY, base64: what certificates.encrypted_key holds. */
  encryptedKey: string;
}

export const REVOCATION_REASON_NAMES = [
  'unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn',
] as const;

/**
 * Revoke a leaf: mark it, sign its revoked OCSP response (served at once) and schedule its CA's CRL
 * rebuild, before the job completes. `caPassphrase` is needed only for a passphrase-protected CA.
 */
export class RevokeCertificateJob {
  @IsUUID() certificateId: string;
  @IsUUID() orgId: string;
  @IsIn(REVOCATION_REASON_NAMES as unknown as string[]) reason: (typeof REVOCATION_REASON_NAMES)[number];
  @IsOptional() @IsString() @Length(0, 2000) comments?: string;
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedCaPassphrase?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

/** Revoke an intermediate CA: it lands on its parent's OCSP and CRL. */
export class RevokeCaJob {
  @IsUUID() caId: string;
  @IsUUID() orgId: string;
  @IsIn(REVOCATION_REASON_NAMES as unknown as string[]) reason: (typeof REVOCATION_REASON_NAMES)[number];
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedParentPassphrase?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

export interface RevokeResult {
  revokedAt: string;
}

/** Build, sign and store the CA's full CRL, or one shard's (one builder per CRL at a time; its number only grows). */
export class BuildCrlJob {
  @IsUUID() caId: string;
  /** Absent: the full CRL. */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_CRL_SHARDS - 1) shard?: number;
}

/**
 * Spread the CA's new leaves over `crlShards` CRL shards. Certificates already issued keep the shard
 * their distribution point names, which stays published; shards that are new get their first CRL before
 * the job completes (a passphrase CA's needs `sealedCaPassphrase`).
 */
export class SetCrlShardsJob {
  @IsUUID() caId: string;
  @IsUUID() orgId: string;
  @IsInt() @Min(1) @Max(MAX_CRL_SHARDS) crlShards: number;
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedCaPassphrase?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

/** Repeatable housekeeping jobs carry nothing. */
export class SweepJob {}

export class SanLists {
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) dns: string[];
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) ip: string[];
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) email: string[];
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) uri: string[];
}

export class LeafSubject {
  @IsOptional() @IsString() @Length(1, 64) organization?: string;
  @IsOptional() @IsString() @Length(1, 64) organizationalUnit?: string;
  @IsOptional() @IsString() @Length(2, 2) country?: string;
  @IsOptional() @IsString() @Length(1, 128) state?: string;
  @IsOptional() @IsString() @Length(1, 128) locality?: string;
  /** Carried over from a device's client certificate by enrollment (the REST API does not take them). */
  @IsOptional() @IsString() @Length(1, 64) serialNumber?: string;
  @IsOptional() @IsString() @Length(1, 255) emailAddress?: string;
}

/**
 * Issue one leaf. `issuanceKey` is the job id and a unique column of the certificate row: a retried
 * job (a signer killed mid-job) finds the row it already committed instead of minting a second one.
 */
export class IssueCertificateJob {
  @IsString() @Length(1, 300) issuanceKey: string;
  @IsUUID() certificateId: string;
  @IsUUID() orgId: string;
  @IsUUID() caId: string;
  @IsIn(['managed', 'csr']) mode: 'managed' | 'csr';
  @IsOptional() @IsString() @Length(1, 64) commonName?: string;
  @ValidateNested() @Type(() => SanLists) sans: SanLists;
  @IsOptional() @IsString() @Length(1, 16384) csrPem?: string;
  /** Managed mode: the key pair to make; absent, the profile's default. (CSR mode: the CSR's key.) */
  @IsOptional() @IsIn(KEY_ALGORITHM_NAMES as unknown as string[]) keyAlgorithm?: (typeof KEY_ALGORITHM_NAMES)[number];
  /**
   * The profile to issue under (the signer's policy module decides validity, usage and EKU from it);
   * absent: the CA's built-in default profile.
   */
  @IsOptional() @IsUUID() profileId?: string;
  /** What the request asked for; the profile decides (absent: its defaults). */
  @IsOptional() @IsInt() @Min(1) @Max(397) validityDays?: number;
  @IsOptional() @IsString() @Length(1, 64) usage?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) extendedKeyUsage?: string[];
  @IsOptional() @ValidateNested() @Type(() => LeafSubject) subject?: LeafSubject;
  @IsOptional() @IsString() @Length(0, 2000) notes?: string;
  @IsIn([true, false]) autoRenew: boolean;
  @IsInt() @Min(1) @Max(397) renewalThresholdDays: number;
  @IsIn([true, false]) storeKey: boolean;
  @IsOptional() @IsString() @Length(1, MAX_SEALED_PASSPHRASE) sealedCaPassphrase?: string;
  /** A renewal: the certificate this one replaces (it gets supersededById in the same transaction). */
  @IsOptional() @IsUUID() renewedFromId?: string;
  /**
   * Managed mode: the producer's ephemeral X25519 public key (SPKI, base64). The signer seals the new
   * private key to it, so the key crosses Redis only as ciphertext.
   */
  @IsOptional() @IsString() @Length(1, 200) recipientKey?: string;
  /** An ACME order's finalization: the account that ordered it (the certificate's source is then `acme`). */
  @IsOptional() @IsUUID() acmeAccountId?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
}

/** `certificate.check`: the request passed every check a signing would make first (a refusal fails the job). */
export interface IssueCheckResult {
  ok: true;
}

/**
 * The certificate row an issuance stored (or, for a retried job, found stored), as JSON: what the
 * producers answer with (API.md's `certificate` object, derived from it with the clock, and the PEM),
 * so they need no read-back query. Dates are ISO 8601, the DER is base64; of the managed key only
 * whether one is kept (`hasStoredKey`), never the key. libs/persistence `issuedCertificateOf` makes it,
 * `issuedRowOf` reads it.
 */
export interface IssuedCertificate {
  id: string;
  orgId: string;
  caId: string | null;
  commonName: string;
  subject: Record<string, string>;
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
  status: string;
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
  issuerDn: string | null;
  acmeAccountId: string | null;
  renewalStatus: string;
  renewalLastAttemptAt: string | null;
  renewalLastError: string | null;
  renewalNextAttemptAt: string | null;
  notes: string | null;
  createdAt: string;
  hasStoredKey: boolean;
  /** base64 */
  certificateDer: string;
}

export interface IssueCertificateResult {
  certificateId: string;
  /** The stored row, as the producer answers with it. */
  certificate: IssuedCertificate;
  /** Managed mode: the private key sealed to the job's recipientKey (see sealed-box.ts). */
  sealedPrivateKey?: string;
}

/**
 * Several issuances in one job: producers coalesce requests that arrive within a millisecond or two, so
 * the queue round trip and the database transaction are paid once per group, not per certificate.
 * Each item is validated, issued or refused on its own; `outcomes[i]` answers `items[i]`.
 */
export interface IssueManyJob {
  items: IssueCertificateJob[];
}

export interface IssueManyResult {
  outcomes: Array<IssueCertificateResult | { error: JobFailure }>;
}

export const MAX_ISSUE_MANY = 256;

/** `crl.build`: the CRL made, or why none was (the CA is gone, or its key needs a passphrase). */
export type BuildCrlResult = { caId: string; shard: number | null; crlNumber: string; revokedCount: number; thisUpdate: Date; nextUpdate: Date } | { skipped: string };
export interface RevocationSweepResult {
  ocspRefreshed: number;
  crlsScheduled: number;
}
export interface RenewalSweepResult {
  renewed: number;
  failed: number;
}
export interface AuditRetentionResult {
  deleted: number;
}

/**
 * The one registry of signer jobs: name -> payload -> result. Producers (SignerClient.run) and the
 * signer's dispatch are typed from it, so a misspelled job, another job's payload, or a handler that
 * answers another result does not compile.
 */
export interface SignerJobRegistry {
  [SIGNER_JOBS.createCa]: { payload: CreateCaJob; result: CreateCaResult };
  [SIGNER_JOBS.importCa]: { payload: ImportCaJob; result: CreateCaResult };
  [SIGNER_JOBS.issueCertificate]: { payload: IssueCertificateJob; result: IssueCertificateResult };
  [SIGNER_JOBS.issueMany]: { payload: IssueManyJob; result: IssueManyResult };
  [SIGNER_JOBS.checkIssuance]: { payload: IssueCertificateJob; result: IssueCheckResult };
  [SIGNER_JOBS.exportKey]: { payload: ExportKeyJob; result: ExportKeyResult };
  [SIGNER_JOBS.verifyEab]: { payload: VerifyEabJob; result: VerifyEabResult };
  [SIGNER_JOBS.wrapKey]: { payload: WrapKeyJob; result: WrapKeyResult };
  [SIGNER_JOBS.revokeCertificate]: { payload: RevokeCertificateJob; result: RevokeResult };
  [SIGNER_JOBS.revokeCa]: { payload: RevokeCaJob; result: RevokeResult };
  [SIGNER_JOBS.buildCrl]: { payload: BuildCrlJob; result: BuildCrlResult };
  [SIGNER_JOBS.setCrlShards]: { payload: SetCrlShardsJob; result: CreateCaResult };
  [SIGNER_JOBS.revocationSweep]: { payload: SweepJob; result: RevocationSweepResult };
  [SIGNER_JOBS.renewalSweep]: { payload: SweepJob; result: RenewalSweepResult };
  [SIGNER_JOBS.auditRetentionSweep]: { payload: SweepJob; result: AuditRetentionResult };
}
export type SignerJobPayload<N extends SignerJobName> = SignerJobRegistry[N]['payload'];
export type SignerJobResult<N extends SignerJobName> = SignerJobRegistry[N]['result'];
/** Every name in SIGNER_JOBS has its entry (a new job without one fails to compile here). */
export type EveryJobRegistered = { [N in SignerJobName]: SignerJobRegistry[N] };

/**
 * How a producer hears that one of its jobs ended: the job's data names the producer's own Redis pub/sub
 * channel in `replyTo` (beside the payload, which the signer validates without it), and the signer
 * publishes a SignerReply there once BullMQ has recorded the end. Each producer process reads only its
 * own jobs' ends, instead of every event of the queue (BullMQ QueueEvents). A message can be missed (no
 * subscriber at that moment): the job's state in BullMQ stays the truth, and the producer polls it.
 */
export const REPLY_TO_FIELD = 'replyTo';

export const signerRepliesChannel = (queuePrefix: string, producerId: string): string => `${queuePrefix}:signer:replies:${producerId}`;

/** Whether `channel` is a replies channel of this queue prefix (the signer publishes to nothing else a job names). */
export const isSignerRepliesChannel = (queuePrefix: string, channel: unknown): channel is string =>
  typeof channel === 'string' && channel.length <= queuePrefix.length + 64 && channel.startsWith(signerRepliesChannel(queuePrefix, ''));

/** The end of a job: its result, or (its retries spent, or refused) BullMQ's failedReason. */
export type SignerReply = { jobId: string; returnvalue: unknown } | { jobId: string; failedReason: string };

/**
 * A job's refusal, carried in BullMQ's failedReason as JSON so the producer can answer with the same
 * API error code the signer chose (policy_violation, ca_unavailable, ...).
 */
export interface JobFailure {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export const encodeJobFailure = (failure: JobFailure): string => JSON.stringify({ signetJobFailure: failure });

export function decodeJobFailure(reason: string | undefined): JobFailure | null {
  if (!reason) return null;
  try {
    const parsed = JSON.parse(reason) as { signetJobFailure?: JobFailure };
    return parsed.signetJobFailure ?? null;
  } catch {
    return null;
  }
}

/**
 * The OCSP response cache in Redis, shared by the signers (which write a response as soon as it is
 * signed) and the gateways (which serve it, and fill the cache from PostgreSQL on a miss with SET NX,
 * so a fill never overwrites a newer response). One value per serial:
 *   caId (36 ASCII bytes) | thisUpdate ms (8, BE) | nextUpdate ms (8, BE) | the DER response
 */
/** The longest an entry stays cached (also bounded by its nextUpdate). */
export const OCSP_CACHE_TTL_MS = 3_600_000;

export const ocspCacheKey = (queuePrefix: string, serialNumber: string): string => `${queuePrefix}:ocsp:${serialNumber}`;

export interface OcspCacheEntry {
  caId: string;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
}

export function encodeOcspCacheEntry(entry: OcspCacheEntry): Buffer {
  const head = Buffer.alloc(52);
  head.write(entry.caId, 0, 36, 'latin1');
  head.writeBigUInt64BE(BigInt(entry.thisUpdate.getTime()), 36);
  head.writeBigUInt64BE(BigInt(entry.nextUpdate.getTime()), 44);
  return Buffer.concat([head, entry.der]);
}

export function decodeOcspCacheEntry(value: Buffer): OcspCacheEntry | null {
  if (value.length <= 52) return null;
  return {
    caId: value.toString('latin1', 0, 36),
    thisUpdate: new Date(Number(value.readBigUInt64BE(36))),
    nextUpdate: new Date(Number(value.readBigUInt64BE(44))),
    der: value.subarray(52),
  };
}

/**
 * OCSP answers kept in each gateway process (issue 17): a signer that changes a cached response announces
 * the serials on `ocspChangesChannel`; every gateway process drops its copies and, for a revocation,
 * acknowledges on `ocspAcksChannel`. A revocation's job completes only once every process that heard it
 * has acknowledged, so its 200 still means every gateway answers revoked. A gateway keeps copies only
 * while it is subscribed; when its subscription drops it forgets them all and asks Redis per request.
 * Message: `<token> <serial>,<serial>,...`; the token is empty for a change nobody waits on (a refresh).
 */
export const ocspChangesChannel = (queuePrefix: string): string => `${queuePrefix}:ocsp:changes`;
export const ocspAcksChannel = (queuePrefix: string): string => `${queuePrefix}:ocsp:acks`;

export interface OcspChange {
  /** Acknowledge with this on ocspAcksChannel once the serials are dropped; '' for no acknowledgement. */
  token: string;
  serialNumbers: string[];
}

export const encodeOcspChange = (change: OcspChange): string => `${change.token} ${change.serialNumbers.join(',')}`;

export function decodeOcspChange(message: string): OcspChange | null {
  const space = message.indexOf(' ');
  if (space < 0) return null;
  const list = message.slice(space + 1);
  return { token: message.slice(0, space), serialNumbers: list ? list.split(',') : [] };
}

/** Redis pub/sub channel on which the gateway announces enrollment-policy changes to the enroll servers. */
export const enrollmentPoliciesChannel = (queuePrefix: string): string => `${queuePrefix}:enroll:policies-changed`;
