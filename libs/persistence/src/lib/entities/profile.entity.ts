import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { KeyAlgorithmName } from './types';

/** A certificate profile (API.md section 5): the issuance policy of one CA, by name. */
@Entity({ name: 'profiles' })
export class ProfileEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid' })
  orgId: string;

  @Column({ name: 'ca_id', type: 'uuid' })
  caId: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  slug: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'text', nullable: true })
  environment: string | null;

  /** `example.com`: that name and every name under it; `*.svc.example.com`: names directly under it. */
  @Column({ name: 'allowed_domains', type: 'text', array: true, default: () => "'{}'" })
  allowedDomains: string[];

  @Column({ name: 'allow_wildcards', type: 'boolean', default: true })
  allowWildcards: boolean;

  @Column({ name: 'allow_ip_sans', type: 'boolean', default: true })
  allowIpSans: boolean;

  /** Empty: every algorithm Signet issues for. */
  @Column({ name: 'allowed_key_algorithms', type: 'text', array: true, default: () => "'{}'" })
  allowedKeyAlgorithms: KeyAlgorithmName[];

  @Column({ name: 'default_validity_days', type: 'int', default: 90 })
  defaultValidityDays: number;

  @Column({ name: 'max_validity_days', type: 'int', default: 397 })
  maxValidityDays: number;

  @Column({ type: 'text', default: 'server' })
  usage: string;

  /** Names or dotted OIDs; null: the EKU that `usage` stands for. */
  @Column({ name: 'extended_key_usage', type: 'text', array: true, nullable: true })
  extendedKeyUsage: string[] | null;

  @Column({ name: 'require_approval', type: 'boolean', default: false })
  requireApproval: boolean;

  @Column({ name: 'approval_ttl_hours', type: 'int', default: 72 })
  approvalTtlHours: number;

  /** ACME newAccount needs an external account binding (API.md section 7). */
  @Column({ name: 'acme_eab_required', type: 'boolean', default: true })
  acmeEabRequired: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  /** Set by DELETE: issuance under it is refused, its certificates keep their profileId. */
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;
}
