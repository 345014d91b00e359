import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type ApiKeyRole = 'platform' | 'admin' | 'member';

/** Per-CA grants of a member key: `{"<caId>": {"read": true, "issue": true, "revoke": false}}`. */
export type CaPermissions = Record<string, { read?: boolean; issue?: boolean; revoke?: boolean; approve?: boolean }>;

/**
 * An API key `sgn_<keyId>_<secret>`. Only SHA-256 of the secret is kept; `keyId` finds the row without
 * a scan, the hash is then compared in constant time. Platform keys have no org.
 */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid', nullable: true })
  orgId: string | null;

  @Column({ name: 'key_id', type: 'text', unique: true })
  keyId: string;

  @Column({ name: 'secret_hash', type: 'bytea' })
  secretHash: Buffer;

  @Column({ type: 'text' })
  name: string;

  /** The displayable start of the key (`sgn_<keyId>`), never enough to use it. */
  @Column({ type: 'text' })
  prefix: string;

  @Column({ type: 'text' })
  role: ApiKeyRole;

  @Column({ type: 'jsonb', default: () => "'{}'::jsonb" })
  permissions: CaPermissions;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'created_by_key_id', type: 'uuid', nullable: true })
  createdByKeyId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
