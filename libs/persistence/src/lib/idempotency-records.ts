/**
 * `Idempotency-Key` records. The unique (org_id, key) row is the lock: of N racing claims exactly one
 * inserts it (or reclaims an expired one), and all N read the same row, so they share the certificate
 * id it names. The protocol around it (hash check, replay, which outcomes are final) is the gateway's.
 */
import type { EntityManager } from 'typeorm';

/** What a completed record replays: the certificate issued, or the refusal. */
export interface IdempotentResponse {
  error?: { code: string; message: string; details?: Record<string, unknown> };
  certificateId?: string;
}

export interface IdempotencyRecord {
  id: string;
  certificateId: string;
  state: 'pending' | 'completed';
  requestHash: string;
  responseBody: IdempotentResponse | null;
}

const RECORD_COLUMNS = `id, certificate_id AS "certificateId", state, request_hash AS "requestHash", response_body AS "responseBody"`;

/**
 * The org's record of `key`: a new pending one naming `certificateId` (also in place of one past its
 * expiry), or the live one a claim made before, as it is. One statement, two when the key is taken.
 */
export async function claimIdempotencyKey(
  manager: EntityManager,
  claim: { orgId: string; key: string; requestHash: string; certificateId: string; ttlHours: number },
): Promise<IdempotencyRecord> {
  const rows: IdempotencyRecord[] = await manager.query(
    `INSERT INTO idempotency_records (org_id, key, request_hash, state, certificate_id, expires_at)
     VALUES ($1, $2, $3, 'pending', $4, now() + make_interval(hours => $5))
     ON CONFLICT (org_id, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, state = 'pending', certificate_id = EXCLUDED.certificate_id,
           response_status = NULL, response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
       WHERE idempotency_records.expires_at < now()
     RETURNING ${RECORD_COLUMNS}`,
    [claim.orgId, claim.key, claim.requestHash, claim.certificateId, claim.ttlHours],
  );
  if (rows.length) return rows[0];
  const [existing]: IdempotencyRecord[] = await manager.query(
    `SELECT ${RECORD_COLUMNS}
       FROM idempotency_records WHERE org_id = $1 AND key = $2`,
    [claim.orgId, claim.key],
  );
  return existing;
}

/** Mark the record completed with the response a replay answers with. */
export async function completeIdempotencyRecord(manager: EntityManager, id: string, status: number, body: IdempotentResponse): Promise<void> {
  await manager.query(`UPDATE idempotency_records SET state = 'completed', response_status = $2, response_body = $3 WHERE id = $1`, [
    id,
    status,
    JSON.stringify(body),
  ]);
}
