import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected';

/** Who asked or decided: an API key (or, later, another actor type). */
export interface ApprovalActor {
  type: string;
  id: string | null;
  name: string | null;
}

/** An issuance waiting for a second person (API.md section 6). `expired` is derived from expiresAt. */
@Entity({ name: 'approvals' })
export class ApprovalEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'org_id', type: 'uuid' })
  orgId: string;

  @Column({ name: 'profile_id', type: 'uuid' })
  profileId: string;

  @Column({ name: 'ca_id', type: 'uuid' })
  caId: string;

  @Column({ type: 'text', default: 'pending' })
  status: ApprovalStatus;

  /** The issuance intent as the requester sent it (CSR or managed with storeKey; never a key). */
  @Column({ type: 'jsonb' })
  request: Record<string, unknown>;

  @Column({ name: 'requested_by', type: 'jsonb' })
  requestedBy: ApprovalActor;

  @Column({ name: 'decided_by', type: 'jsonb', nullable: true })
  decidedBy: ApprovalActor | null;

  @Column({ name: 'decided_at', type: 'timestamptz', nullable: true })
  decidedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @Column({ name: 'certificate_id', type: 'uuid', nullable: true })
  certificateId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
