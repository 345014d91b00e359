import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The current CRL of a CA (one row per CA; the CRL number lives on the CA and only grows). */
@Entity({ name: 'crls' })
export class CrlEntity {
  @PrimaryColumn({ name: 'ca_id', type: 'uuid' })
  caId: string;

  @Column({ name: 'crl_number', type: 'bigint' })
  crlNumber: string;

  @Column({ name: 'this_update', type: 'timestamptz' })
  thisUpdate: Date;

  @Column({ name: 'next_update', type: 'timestamptz' })
  nextUpdate: Date;

  @Column({ name: 'revoked_count', type: 'int' })
  revokedCount: number;

  @Column({ type: 'bytea' })
  der: Buffer;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
