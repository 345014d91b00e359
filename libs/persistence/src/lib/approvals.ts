/**
 * Approvals (API.md section 6). A decision is one conditional UPDATE (`status = 'pending'` and not past
 * `expires_at`), so of two approvers racing exactly one claims the request; the time is the caller's
 * clock, never the database's, so tests can set it.
 */
import type { EntityManager } from 'typeorm';
import { ApprovalActor, ApprovalEntity, ApprovalStatus } from './entities/approval.entity';

export type ApprovalListStatus = ApprovalStatus | 'expired' | 'all';

/** Insert a request; the same id again (a replayed Idempotency-Key) finds the first one. */
export async function insertApproval(manager: EntityManager, row: Omit<ApprovalEntity, 'status' | 'decidedBy' | 'decidedAt' | 'reason' | 'certificateId'>): Promise<ApprovalEntity> {
  await manager.query(
    `INSERT INTO approvals (id, org_id, profile_id, ca_id, request, requested_by, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [row.id, row.orgId, row.profileId, row.caId, JSON.stringify(row.request), JSON.stringify(row.requestedBy), row.createdAt, row.expiresAt],
  );
  return manager.getRepository(ApprovalEntity).findOneByOrFail({ id: row.id, orgId: row.orgId });
}

/** The org's request of this id; null when there is none (or it is another org's). */
export function approvalInOrg(manager: EntityManager, id: string, orgId: string): Promise<ApprovalEntity | null> {
  return manager.getRepository(ApprovalEntity).findOneBy({ id, orgId });
}

/** The request of this id as it is now (after a lost claim, to say why); throws (EntityNotFoundError) when it is gone. */
export function approvalByIdOrFail(manager: EntityManager, id: string): Promise<ApprovalEntity> {
  return manager.getRepository(ApprovalEntity).findOneByOrFail({ id });
}

/** Claim a pending, unexpired request for a decision; null when another decision (or time) got there first. */
export async function decideApproval(
  manager: EntityManager,
  decision: { id: string; orgId: string; status: 'approved' | 'rejected'; decidedBy: ApprovalActor; reason: string | null; now: Date },
): Promise<ApprovalEntity | null> {
  const result = await manager.getRepository(ApprovalEntity).createQueryBuilder().update()
    .set({ status: decision.status, decidedBy: decision.decidedBy, decidedAt: decision.now, reason: decision.reason })
    .where(`id = :id AND org_id = :orgId AND status = 'pending' AND expires_at > :now`, decision)
    .returning('*').execute();
  return result.affected ? manager.getRepository(ApprovalEntity).create(result.raw.map(fromRaw)[0] as Partial<ApprovalEntity>) : null;
}

/** An approved request's certificate, or the refusal that ended it (the request is then rejected). */
export async function settleApproval(manager: EntityManager, id: string, outcome: { certificateId: string } | { refusedBecause: string }): Promise<void> {
  if ('certificateId' in outcome) {
    await manager.getRepository(ApprovalEntity).update({ id }, { certificateId: outcome.certificateId });
  } else {
    await manager.getRepository(ApprovalEntity).update({ id }, { status: 'rejected', reason: outcome.refusedBecause.slice(0, 1000) });
  }
}

/** Undo a claim whose issuance could not run (the signer was away): the request waits again. */
export async function reopenApproval(manager: EntityManager, id: string): Promise<void> {
  await manager.query(`UPDATE approvals SET status = 'pending', decided_by = NULL, decided_at = NULL WHERE id = $1 AND certificate_id IS NULL`, [id]);
}

export interface ApprovalQuery {
  orgId: string;
  status: ApprovalListStatus;
  profileId?: string;
  /** Only these CAs' requests, or (with requestedById) also the requester's own; null: every CA. */
  caIds: string[] | null;
  requestedById?: string;
  now: Date;
  skip: number;
  take: number;
}

export async function listApprovals(manager: EntityManager, q: ApprovalQuery): Promise<[ApprovalEntity[], number]> {
  const query = manager.getRepository(ApprovalEntity).createQueryBuilder('a').where('a.org_id = :orgId', q);
  if (q.caIds) {
    query.andWhere(q.requestedById ? `(a.ca_id = ANY(:caIds) OR a.requested_by->>'id' = :requestedById)` : 'a.ca_id = ANY(:caIds)', q);
  }
  if (q.profileId) query.andWhere('a.profile_id = :profileId', q);
  if (q.status === 'pending') query.andWhere(`a.status = 'pending' AND a.expires_at > :now`, q);
  else if (q.status === 'expired') query.andWhere(`a.status = 'pending' AND a.expires_at <= :now`, q);
  else if (q.status !== 'all') query.andWhere('a.status = :status', q);
  return query.orderBy('a.created_at', 'DESC').addOrderBy('a.id', 'DESC').skip(q.skip).take(q.take).getManyAndCount();
}

/** RETURNING gives column names: map them to the entity's properties. */
function fromRaw(raw: Record<string, unknown>): Partial<ApprovalEntity> {
  return {
    id: raw['id'] as string, orgId: raw['org_id'] as string, profileId: raw['profile_id'] as string, caId: raw['ca_id'] as string,
    status: raw['status'] as ApprovalStatus, request: raw['request'] as Record<string, unknown>, requestedBy: raw['requested_by'] as ApprovalActor,
    decidedBy: raw['decided_by'] as ApprovalActor | null, decidedAt: raw['decided_at'] as Date | null, reason: raw['reason'] as string | null,
    certificateId: raw['certificate_id'] as string | null, createdAt: raw['created_at'] as Date, expiresAt: raw['expires_at'] as Date,
  };
}
