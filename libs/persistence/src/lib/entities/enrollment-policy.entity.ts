import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { KeyAlgorithmName } from './types';

export type SubjectRule = 'match-client-cn' | 'any';

/** Which devices may enroll on 8443 (client certificates from `trustedCaIds`) and how they are issued. */
@Entity({ name: 'enrollment_policies' })
export class EnrollmentPolicyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid' })
  orgId: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'trusted_ca_ids', type: 'uuid', array: true })
  trustedCaIds: string[];

  @Column({ name: 'issuing_ca_id', type: 'uuid' })
  issuingCaId: string;

  @Column({ name: 'validity_days', type: 'int', default: 90 })
  validityDays: number;

  @Column({ type: 'text', default: 'client' })
  usage: string;

  @Column({ name: 'allowed_key_algorithms', type: 'text', array: true, default: () => "'{}'" })
  allowedKeyAlgorithms: KeyAlgorithmName[];

  @Column({ name: 'subject_rule', type: 'text', default: 'match-client-cn' })
  subjectRule: SubjectRule;

  /** Enrollment issues under this profile when set (its CA must be the policy's issuing CA). */
  @Column({ name: 'profile_id', type: 'uuid', nullable: true })
  profileId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
