import { Column, Entity, PrimaryColumn } from 'typeorm';

export type OcspCertStatus = 'good' | 'revoked';

/**
 * A pre-signed OCSP response (RFC 5019 style), keyed by the serial it answers for. The subject is a
 * leaf (`certificateId`) or an intermediate CA (`subjectCaId`), answered by its issuing CA (`caId`).
 */
@Entity({ name: 'ocsp_responses' })
export class OcspResponseEntity {
  @PrimaryColumn({ name: 'serial_number', type: 'text' })
  serialNumber: string;

  @Column({ name: 'ca_id', type: 'uuid' })
  caId: string;

  @Column({ name: 'certificate_id', type: 'uuid', nullable: true })
  certificateId: string | null;

  @Column({ name: 'subject_ca_id', type: 'uuid', nullable: true })
  subjectCaId: string | null;

  @Column({ type: 'text' })
  status: OcspCertStatus;

  @Column({ type: 'bytea' })
  der: Buffer;

  @Column({ name: 'this_update', type: 'timestamptz' })
  thisUpdate: Date;

  @Column({ name: 'next_update', type: 'timestamptz' })
  nextUpdate: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
