/**
 * `Idempotency-Key` claims. The unique (org_id, key) row is the lock (libs/persistence
 * idempotency-records.ts): of N racing requests exactly one inserts it, and all N share the certificate
 * id it names, so they all drive the same signer job (same job id, same issuance key) and answer with
 * the same certificate. A record older than 24 h is reclaimed as new. `idempotently` is the whole
 * protocol, for every route that takes the header (issue, and renewals of csr-mode certificates).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { claimIdempotencyKey, completeIdempotencyRecord } from '@signet/persistence';
import { ApiError, ErrorCode } from '@signet/service';

export const IDEMPOTENCY_TTL_HOURS = 24;

/** Key order does not change the hash: `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
export function requestHash(body: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
        : value;
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex');
}

export function checkIdempotencyKey(key: string): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw ApiError.badRequest('Idempotency-Key must be 1-255 printable ASCII characters');
}

/**
 * Run `once` under an Idempotency-Key: `hash` names the request (route, target and body), `once` gets the
 * certificate id the key stands for, so a retry, racing or not, drives the same signer job and answers
 * with the same certificate. Same key + another request: 422 idempotency_mismatch. A refusal is final and
 * replayed as is; a 503 or 500 leaves the claim open for the retry.
 */
export async function idempotently<T>(
  manager: EntityManager, orgId: string, key: string, hash: string, once: (certificateId: string) => Promise<T>,
): Promise<T> {
  checkIdempotencyKey(key);
  const record = await claimIdempotencyKey(manager, { orgId, key, requestHash: hash, certificateId: randomUUID(), ttlHours: IDEMPOTENCY_TTL_HOURS });
  if (record.requestHash !== hash) throw new ApiError('idempotency_mismatch', 'this Idempotency-Key was used with a different request body');
  const stored = record.state === 'completed' ? record.responseBody : null;
  if (stored?.error) throw new ApiError(stored.error.code as ErrorCode, stored.error.message, stored.error.details);
  try {
    const response = await once(record.certificateId);
    if (record.state !== 'completed') await completeIdempotencyRecord(manager, record.id, 201, { certificateId: record.certificateId });
    return response;
  } catch (error) {
    if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
      await completeIdempotencyRecord(manager, record.id, error.status, { error: { code: error.code, message: error.message, details: error.details } });
    }
    throw error;
  }
}
