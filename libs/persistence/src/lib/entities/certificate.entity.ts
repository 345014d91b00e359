import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { KeyAlgorithmName, RevocationReasonName, SubjectRecord } from './types';

export type CertificateMode = 'managed' | 'csr';
export type CertificateStatus = 'active' | 'revoked';

/**
 * An issued leaf certificate. `expired` is derived from `validTo`. `issuanceKey` is the unique key of
 * the signer job that made it: a retried job finds its own row instead of minting a second certificate.
 */
export type CertificateSource = 'issued' | 'acme' | 'imported' | 'external-acme' | 'discovered';

@Entity({ name: 'certificates' })
export class CertificateEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid' })
  orgId: string;

  @Column({ name: 'ca_id', type: 'uuid' })
  caId: string | null;

  @Column({ name: 'serial_number', type: 'text', unique: true })
  serialNumber: string;

  @Column({ name: 'fingerprint_sha256', type: 'text', unique: true })
  fingerprintSha256: string;

  @Column({ name: 'common_name', type: 'text' })
  commonName: string;

  @Column({ type: 'jsonb' })
  subject: SubjectRecord;

  @Column({ name: 'san_dns', type: 'text', array: true, default: () => "'{}'" })
  sanDns: string[];

  @Column({ name: 'san_ip', type: 'text', array: true, default: () => "'{}'" })
  sanIp: string[];

  @Column({ name: 'san_email', type: 'text', array: true, default: () => "'{}'" })
  sanEmail: string[];

  @Column({ name: 'san_uri', type: 'text', array: true, default: () => "'{}'" })
  sanUri: string[];

  @Column({ name: 'key_algorithm', type: 'text' })
  keyAlgorithm: KeyAlgorithmName;

  @Column({ type: 'text' })
  usage: string;

  @Column({ name: 'extended_key_usage', type: 'text', array: true, default: () => "'{}'" })
  extendedKeyUsage: string[];

  @Column({ type: 'text' })
  mode: CertificateMode;

  @Column({ name: 'valid_from', type: 'timestamptz' })
  validFrom: Date;

  @Column({ name: 'valid_to', type: 'timestamptz' })
  validTo: Date;

  @Column({ type: 'text', default: 'active' })
  status: CertificateStatus;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'revocation_reason', type: 'text', nullable: true })
  revocationReason: RevocationReasonName | null;

  @Column({ name: 'revocation_comments', type: 'text', nullable: true })
  revocationComments: string | null;

  /** The CRL shard its distribution point names (crl_shards of its CA); null: it names the CA's full CRL. */
  @Column({ name: 'crl_shard', type: 'smallint', nullable: true })
  crlShard: number | null;

  @Column({ name: 'auto_renew', type: 'boolean', default: false })
  autoRenew: boolean;

  @Column({ name: 'renewal_threshold_days', type: 'int', default: 30 })
  renewalThresholdDays: number;

  @Column({ name: 'renewed_from_id', type: 'uuid', nullable: true })
  renewedFromId: string | null;

  @Column({ name: 'superseded_by_id', type: 'uuid', nullable: true })
  supersededById: string | null;

  @Column({ name: 'certificate_der', type: 'bytea' })
  certificateDer: Buffer;

  @Column({ name: 'csr_der', type: 'bytea', nullable: true })
  csrDer: Buffer | null;

  /** Managed key kept at rest only when `storeKey` asked for it, encrypted like CA keys. */
  @Column({ name: 'encrypted_key', type: 'bytea', nullable: true })
  encryptedKey: Buffer | null;

  @Column({ type: 'text', nullable: true })
  notes: string | null;

  @Column({ name: 'issuance_key', type: 'text', nullable: true, unique: true })
  issuanceKey: string | null;

  /** The profile it was issued under; null: its CA's built-in default profile. */
  @Column({ name: 'profile_id', type: 'uuid', nullable: true })
  profileId: string | null;

  @Column({ type: 'text', nullable: true })
  environment: string | null;

  /** Issued to a device by enrollment (it may re-enroll with it). */
  @Column({ type: 'boolean', default: false })
  enrolled: boolean;

  /** Where it came from (API.md section 8): `issued` by a Signet CA through the API or enrollment, `acme`. */
  @Column({ type: 'text', default: 'issued' })
  source: CertificateSource;

  /** The ACME account that ordered it (source `acme`). */
  @Column({ name: 'acme_account_id', type: 'uuid', nullable: true })
  acmeAccountId: string | null;

  /** A certificate from elsewhere renewed under this Signet profile (`renewWith: {profileId}`): its CA issues the renewal. */
  @Column({ name: 'renew_profile_id', type: 'uuid', nullable: true })
  renewProfileId: string | null;

  /** The issuer's DN, for certificates no Signet CA issued (for the others it is their CA's subject). */
  @Column({ name: 'issuer_dn', type: 'text', nullable: true })
  issuerDn: string | null;

  /** The chain a certificate from elsewhere came with (PEM, issuer first); null for Signet's own. */
  @Column({ name: 'chain_pem', type: 'text', nullable: true })
  chainPem: string | null;

  /** What the renewal sweep is doing or last did (renewal-state.ts derives what clients see). */
  @Column({ name: 'renewal_status', type: 'text', default: 'none' })
  renewalStatus: 'none' | 'in_progress' | 'failed';

  @Column({ name: 'renewal_last_attempt_at', type: 'timestamptz', nullable: true })
  renewalLastAttemptAt: Date | null;

  @Column({ name: 'renewal_last_error', type: 'text', nullable: true })
  renewalLastError: string | null;

  @Column({ name: 'renewal_next_attempt_at', type: 'timestamptz', nullable: true })
  renewalNextAttemptAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
