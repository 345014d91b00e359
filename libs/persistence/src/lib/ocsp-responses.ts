/**
 * Pre-signed OCSP responses as the signer stores and re-reads them, and as the gateway serves them. A
 * stored response only moves forward: the upsert never replaces a newer response, and never turns a
 * revoked answer back into good (a refresh that read the status just before a revocation loses).
 */
import type { EntityManager } from 'typeorm';
import type { RevocationReasonName } from './entities';

/** A signed response as stored: for a leaf (certificateId) or an intermediate CA (subjectCaId), signed by `caId`. */
export interface OcspResponseRow {
  serialNumber: string;
  caId: string;
  certificateId: string | null;
  subjectCaId: string | null;
  status: 'good' | 'revoked';
  der: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * Upsert responses (forward only, see above) in one statement, inside `manager`'s transaction when it
 * has one; returns those of `responses` that were stored. None given: no statement.
 */
export async function storeOcspResponses<T extends OcspResponseRow>(manager: EntityManager, responses: T[]): Promise<T[]> {
  if (!responses.length) return [];
  const stored: { serial_number: string }[] = await manager.query(
    `INSERT INTO ocsp_responses (serial_number, ca_id, certificate_id, subject_ca_id, status, der, this_update, next_update, updated_at)
     SELECT s, c, l, sc, st, d, tu, nu, now()
       FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bytea[], $7::timestamptz[], $8::timestamptz[])
         AS r(s, c, l, sc, st, d, tu, nu)
     ON CONFLICT (serial_number) DO UPDATE
       SET status = excluded.status, der = excluded.der, this_update = excluded.this_update,
           next_update = excluded.next_update, updated_at = now()
       WHERE excluded.this_update >= ocsp_responses.this_update
         AND NOT (ocsp_responses.status = 'revoked' AND excluded.status = 'good')
     RETURNING serial_number`,
    [
      responses.map((r) => r.serialNumber),
      responses.map((r) => r.caId),
      responses.map((r) => r.certificateId),
      responses.map((r) => r.subjectCaId),
      responses.map((r) => r.status),
      responses.map((r) => r.der),
      responses.map((r) => r.thisUpdate),
      responses.map((r) => r.nextUpdate),
    ],
  );
  const kept = new Set(stored.map((row) => row.serial_number));
  return responses.filter((r) => kept.has(r.serialNumber));
}

/** The stored responses for these serials, as they are now. One query. */
export async function ocspResponsesBySerial(manager: EntityManager, serialNumbers: string[]): Promise<OcspResponseRow[]> {
  const rows: { serial_number: string; ca_id: string; certificate_id: string | null; subject_ca_id: string | null; status: 'good' | 'revoked'; der: Buffer; this_update: Date; next_update: Date }[] =
    await manager.query(
      `SELECT serial_number, ca_id, certificate_id, subject_ca_id, status, der, this_update, next_update FROM ocsp_responses WHERE serial_number = ANY($1::text[])`,
      [serialNumbers],
    );
  return rows.map((r) => ({
    serialNumber: r.serial_number, caId: r.ca_id, certificateId: r.certificate_id, subjectCaId: r.subject_ca_id,
    status: r.status, der: r.der, thisUpdate: r.this_update, nextUpdate: r.next_update,
  }));
}

/** A stored response due for re-signing, with its subject's current revocation state. */
export interface OcspResponseDue {
  serialNumber: string;
  caId: string;
  certificateId: string | null;
  subjectCaId: string | null;
  revokedAt: Date | null;
  reason: RevocationReasonName | null;
}

/**
 * Responses whose nextUpdate is within `marginSeconds`, soonest first, at most `limit`: only those a
 * sweep can re-sign (the signing CA is unexpired and has no passphrase) and still needs to (the
 * subject has not expired). Each with its leaf's or intermediate's revocation as it is now.
 */
export async function ocspResponsesDueForRefresh(manager: EntityManager, marginSeconds: number, limit: number): Promise<OcspResponseDue[]> {
  const rows: { serial_number: string; ca_id: string; certificate_id: string | null; subject_ca_id: string | null; revoked_at: Date | null; revocation_reason: RevocationReasonName | null }[] =
    await manager.query(
      `SELECT o.serial_number, o.ca_id, o.certificate_id, o.subject_ca_id,
              coalesce(c.revoked_at, sc.revoked_at) AS revoked_at, coalesce(c.revocation_reason, sc.revocation_reason) AS revocation_reason
         FROM ocsp_responses o
         JOIN cas ca ON ca.id = o.ca_id AND NOT ca.has_passphrase AND ca.valid_to > now()
         LEFT JOIN certificates c ON c.id = o.certificate_id
         LEFT JOIN cas sc ON sc.id = o.subject_ca_id
        WHERE o.next_update < now() + make_interval(secs => $1)
          AND coalesce(c.valid_to, sc.valid_to) > now()
        ORDER BY o.next_update LIMIT ${Math.trunc(limit)}`,
      [marginSeconds],
    );
  return rows.map((r) => ({
    serialNumber: r.serial_number, caId: r.ca_id, certificateId: r.certificate_id, subjectCaId: r.subject_ca_id,
    revokedAt: r.revoked_at, reason: r.revocation_reason,
  }));
}

/** What the OCSP responder serves for a serial: the signed bytes, their signer and times. */
export interface ServedOcspResponse {
  caId: string;
  der: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** The stored response for this serial; null when there is none. One indexed read: the responder's fill on a cache miss. */
export async function ocspResponseToServe(manager: EntityManager, serialNumber: string): Promise<ServedOcspResponse | null> {
  const [row] = await manager.query(
    `SELECT ca_id, der, this_update, next_update FROM ocsp_responses WHERE serial_number = $1`,
    [serialNumber],
  );
  return row ? { caId: row.ca_id, der: row.der, thisUpdate: row.this_update, nextUpdate: row.next_update } : null;
}

/** A serial's revocation state, with the times of its pre-signed OCSP response (null before the first). */
export interface SerialStatus {
  /** The CA that issued it. */
  caId: string;
  status: 'active' | 'revoked';
  revokedAt: Date | null;
  revocationReason: RevocationReasonName | null;
  thisUpdate: Date | null;
  nextUpdate: Date | null;
}

/**
 * The state of the org's leaf certificate or intermediate CA with this serial (uppercase hex); null when
 * the org has none. One query.
 */
export async function serialStatusInOrg(manager: EntityManager, serialNumber: string, orgId: string): Promise<SerialStatus | null> {
  const [row] = await manager.query(
    `SELECT s.ca_id, s.status, s.revoked_at, s.revocation_reason, o.this_update, o.next_update
         FROM (SELECT ca_id, status, revoked_at, revocation_reason FROM certificates WHERE serial_number = $1 AND org_id = $2 AND ca_id IS NOT NULL
               UNION ALL
               SELECT parent_ca_id, status, revoked_at, revocation_reason FROM cas WHERE serial_number = $1 AND org_id = $2 AND parent_ca_id IS NOT NULL) s
         LEFT JOIN ocsp_responses o ON o.serial_number = $1
        LIMIT 1`,
    [serialNumber, orgId],
  );
  return row
    ? { caId: row.ca_id, status: row.status, revokedAt: row.revoked_at, revocationReason: row.revocation_reason, thisUpdate: row.this_update, nextUpdate: row.next_update }
    : null;
}
