/**
 * CRLs as the signer builds and stores them, and as the gateway's public endpoints read them. Builders of
 * one CA take turns (a transaction-scoped advisory lock), so CRL numbers never interleave across signers:
 * a build takes the lock, reads the last number, and stores number + 1 with its CRL before the next
 * builder may start.
 */
import type { EntityManager } from 'typeorm';
import type { RevocationReasonName } from './entities';

/** Wait for, then hold until `manager`'s transaction ends, the CA's CRL build lock. */
export async function lockCrlBuilds(manager: EntityManager, caId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext('signet-crl:' || $1))`, [caId]);
}

/** The number of the CA's last CRL (0 before its first). Read under lockCrlBuilds. */
export async function lastCrlNumber(manager: EntityManager, caId: string): Promise<bigint> {
  const [{ last_crl_number: last }] = await manager.query(`SELECT last_crl_number::text FROM cas WHERE id = $1`, [caId]);
  return BigInt(last);
}

export interface CrlToStore {
  caId: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
  der: Buffer;
}

/** Record the CA's new last CRL number and store its CRL (replacing the one before): two statements, under lockCrlBuilds. */
export async function storeCrl(manager: EntityManager, crl: CrlToStore): Promise<void> {
  await manager.query(`UPDATE cas SET last_crl_number = $2 WHERE id = $1`, [crl.caId, crl.crlNumber.toString()]);
  await manager.query(
    `INSERT INTO crls (ca_id, crl_number, this_update, next_update, revoked_count, der, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (ca_id) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
       next_update = excluded.next_update, revoked_count = excluded.revoked_count, der = excluded.der, updated_at = now()`,
    [crl.caId, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, crl.revokedCount, crl.der],
  );
}

/** A CRL entry as stored: the shape @signet/pki's CrlEntry takes. */
export interface RevokedEntry {
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReasonName | null;
}

interface RevokedRow {
  s: string;
  at: Date;
  r: RevocationReasonName | null;
}

const entryOf = (row: RevokedRow): RevokedEntry => ({ serialNumber: row.s, revokedAt: row.at, reason: row.r });

/**
 * What the CA's CRL lists at `now`: its revoked intermediates, then its revoked leaves that have not
 * expired (an expired certificate leaves the CRL, RFC 5280 3.3), `pageSize` at a time in serial order
 * (keyset pages), so a million revoked certificates stream into the encoder without a million row objects.
 */
export async function* revokedEntries(manager: EntityManager, caId: string, now: Date, pageSize: number): AsyncGenerator<RevokedEntry[]> {
  const cas: RevokedRow[] = await manager.query(
    `SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM cas
      WHERE parent_ca_id = $1 AND status = 'revoked' AND valid_to > $2`,
    [caId, now],
  );
  if (cas.length) yield cas.map(entryOf);
  let after = '';
  for (;;) {
    const rows: RevokedRow[] = await manager.query(
      `SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
        WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND valid_to > $3
        ORDER BY serial_number LIMIT ${Math.trunc(pageSize)}`,
      [caId, after, now],
    );
    if (!rows.length) return;
    yield rows.map(entryOf);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1].s;
  }
}

/**
 * Ids of the CAs whose CRL a sweep should rebuild: unexpired, without a passphrase, and with no CRL
 * yet, one whose nextUpdate is within `marginSeconds`, or one older than a revocation (of a leaf or an
 * intermediate) made more than `missedAfterSeconds` ago, whose own scheduled rebuild should long have run.
 */
export async function casDueForCrl(manager: EntityManager, marginSeconds: number, missedAfterSeconds: number): Promise<string[]> {
  const rows: { id: string }[] = await manager.query(
    `SELECT ca.id FROM cas ca LEFT JOIN crls c ON c.ca_id = ca.id
      WHERE NOT ca.has_passphrase AND ca.valid_to > now()
        AND (c.ca_id IS NULL
             OR c.next_update < now() + make_interval(secs => $1)
             OR EXISTS (SELECT 1 FROM certificates x WHERE x.ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2))
             OR EXISTS (SELECT 1 FROM cas x WHERE x.parent_ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2)))`,
    [marginSeconds, missedAfterSeconds],
  );
  return rows.map((r) => r.id);
}

/** A stored CRL's numbers and times, without its bytes. The number as text: it is a bigint. */
export interface StoredCrlHead {
  crlNumber: string;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
}

/** The number of the CA's current CRL, null before its first: a one-row index read, asked on every CRL request. */
export async function currentCrlNumber(manager: EntityManager, caId: string): Promise<string | null> {
  const [head] = await manager.query(`SELECT crl_number::text AS n FROM crls WHERE ca_id = $1`, [caId]);
  return head ? (head.n as string) : null;
}

/** The CA's current CRL's numbers and times, without reading its bytes; null before its first. */
export async function currentCrlHead(manager: EntityManager, caId: string): Promise<StoredCrlHead | null> {
  const [row] = await manager.query(
    `SELECT crl_number::text AS n, this_update, next_update, revoked_count FROM crls WHERE ca_id = $1`,
    [caId],
  );
  return row ? { crlNumber: row.n, thisUpdate: row.this_update, nextUpdate: row.next_update, revokedCount: row.revoked_count } : null;
}

/**
 * The CA's current CRL with its bytes; null before its first. One read. node-pg returns bytea as a hex
 * string (two characters a byte); base64 is a third smaller on the wire and in memory, and decodes
 * faster (Buffer's decoder skips PostgreSQL's newlines).
 */
export async function currentCrl(manager: EntityManager, caId: string): Promise<(StoredCrlHead & { der: Buffer }) | null> {
  const [row] = await manager.query(
    `SELECT crl_number::text AS n, this_update, next_update, revoked_count, encode(der, 'base64') AS der FROM crls WHERE ca_id = $1`,
    [caId],
  );
  if (!row) return null;
  return {
    crlNumber: row.n, thisUpdate: row.this_update, nextUpdate: row.next_update, revokedCount: row.revoked_count,
    der: Buffer.from(row.der as string, 'base64'),
  };
}
