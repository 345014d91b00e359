import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { KeyAlgorithmName, RevocationReasonName, SubjectRecord } from './types';

export type CaType = 'root' | 'intermediate';
export type CaStatus = 'active' | 'revoked';

/**
 * A certificate authority. The private key is kept only as the signer's encrypted blob
 * (AES-256-GCM under MASTER_KEY, optionally a passphrase layer); nothing else can open it.
 * `expired` is derived from `validTo`, so no job has to flip a status at midnight.
 */
@Entity({ name: 'cas' })
export class CertificateAuthorityEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid' })
  orgId: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  type: CaType;

  @Column({ name: 'parent_ca_id', type: 'uuid', nullable: true })
  parentCaId: string | null;

  /** 0 for a root, parent's depth + 1 below it. */
  @Column({ type: 'int' })
  depth: number;

  @Column({ name: 'path_length', type: 'int', nullable: true })
  pathLength: number | null;

  @Column({ name: 'permitted_dns_domains', type: 'text', array: true, default: () => "'{}'" })
  permittedDnsDomains: string[];

  @Column({ type: 'jsonb' })
  subject: SubjectRecord;

  @Column({ name: 'common_name', type: 'text' })
  commonName: string;

  @Column({ name: 'key_algorithm', type: 'text' })
  keyAlgorithm: KeyAlgorithmName;

  @Column({ name: 'serial_number', type: 'text' })
  serialNumber: string;

  @Column({ name: 'fingerprint_sha256', type: 'text', unique: true })
  fingerprintSha256: string;

  /** SHA-1 of the subjectPublicKey bits: the OCSP issuerKeyHash and the key identifier. */
  @Column({ name: 'key_hash_sha1', type: 'bytea' })
  keyHashSha1: Buffer;

  @Column({ name: 'certificate_der', type: 'bytea' })
  certificateDer: Buffer;

  /** For an imported CA: the PEM chain above it that the platform did not issue. */
  @Column({ name: 'external_chain_pem', type: 'text', nullable: true })
  externalChainPem: string | null;

  @Column({ name: 'encrypted_key', type: 'bytea' })
  encryptedKey: Buffer;

  @Column({ name: 'has_passphrase', type: 'boolean', default: false })
  hasPassphrase: boolean;

  @Column({ type: 'boolean', default: false })
  imported: boolean;

  @Column({ name: 'valid_from', type: 'timestamptz' })
  validFrom: Date;

  @Column({ name: 'valid_to', type: 'timestamptz' })
  validTo: Date;

  @Column({ type: 'text', default: 'active' })
  status: CaStatus;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'revocation_reason', type: 'text', nullable: true })
  revocationReason: RevocationReasonName | null;

  /** Last CRL number handed out; incremented atomically (UPDATE ... RETURNING) so numbers never repeat. */
  @Column({ name: 'last_crl_number', type: 'bigint', default: 0 })
  lastCrlNumber: string;

  /**
   * How many CRL shards new leaves are spread over (1..256; 1: every leaf names the full CRL). A leaf keeps
   * the shard it was issued into (certificates.crl_shard) when this changes.
   */
  @Column({ name: 'crl_shards', type: 'smallint', default: 1 })
  crlShards: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
