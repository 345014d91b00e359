/**
 * The contract between the producers (gateway, enroll) and the signer: one BullMQ queue, a job name
 * per operation, a payload class per job that the signer validates when it takes the job off the wire
 * (the queue is a trust boundary too), and a result type per job.
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Max, Min, ValidateNested,
} from 'class-validator';

export const SIGNER_QUEUE = 'signer';

export const SIGNER_JOBS = {
  createCa: 'ca.create',
  importCa: 'ca.import',
  issueCertificate: 'certificate.issue',
  exportKey: 'certificate.key',
} as const;
export type SignerJobName = (typeof SIGNER_JOBS)[keyof typeof SIGNER_JOBS];

export const KEY_ALGORITHM_NAMES = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;

/** Who asked, for the audit event the signer writes with the change. */
export class JobActor {
  @IsIn(['apiKey', 'device', 'system'])
  type: 'apiKey' | 'device' | 'system';

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

/** Make a CA: a self-signed root, or an intermediate signed by `parentCaId`. */
export class CreateCaJob {
  /** Chosen by the producer: a retried job finds the CA it already made instead of making another. */
  @IsUUID() caId: string;
  @IsUUID() orgId: string;
  @IsString() @Length(1, 200) name: string;
  @ValidateNested() @Type(() => CaSubject) subject: CaSubject;
  @IsIn(KEY_ALGORITHM_NAMES as unknown as string[]) keyAlgorithm: (typeof KEY_ALGORITHM_NAMES)[number];
  @IsInt() @Min(1) @Max(36500) validityDays: number;
  @IsOptional() @IsUUID() parentCaId?: string;
  @IsOptional() @IsInt() @Min(0) @Max(32) pathLength?: number;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) permittedDnsDomains?: string[];
  /** Protects the new CA's key (a scrypt layer over MASTER_KEY). Lives in Redis only while the job does. */
  @IsOptional() @IsString() @Length(12, 1024) passphrase?: string;
  /** Opens the parent's key when the parent has a passphrase. */
  @IsOptional() @IsString() @Length(1, 1024) parentPassphrase?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
  @IsString() publicBaseUrl: string;
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
  @IsIn(KEY_ALGORITHM_NAMES as unknown as string[]) keyAlgorithm: (typeof KEY_ALGORITHM_NAMES)[number];
  @IsInt() @Min(1) @Max(397) validityDays: number;
  @IsString() @Length(1, 64) usage: string;
  @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) extendedKeyUsage: string[];
  @IsOptional() @ValidateNested() @Type(() => LeafSubject) subject?: LeafSubject;
  @IsOptional() @IsString() @Length(0, 2000) notes?: string;
  @IsIn([true, false]) autoRenew: boolean;
  @IsInt() @Min(1) @Max(397) renewalThresholdDays: number;
  @IsIn([true, false]) storeKey: boolean;
  @IsOptional() @IsString() @Length(1, 1024) caPassphrase?: string;
  /** A renewal: the certificate this one replaces (it gets supersededById in the same transaction). */
  @IsOptional() @IsUUID() renewedFromId?: string;
  /**
   * Managed mode: the producer's ephemeral X25519 public key (SPKI, base64). The signer seals the new
   * private key to it, so the key crosses Redis only as ciphertext.
   */
  @IsOptional() @IsString() @Length(1, 200) recipientKey?: string;
  @IsObject() @ValidateNested() @Type(() => JobActor) actor: JobActor;
  @IsString() publicBaseUrl: string;
}

export interface IssueCertificateResult {
  certificateId: string;
  /** Managed mode: the private key sealed to the job's recipientKey (see sealed-box.ts). */
  sealedPrivateKey?: string;
}

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
