/**
 * The rows a MASTER_KEY rotation re-wraps: every blob sealed under MASTER_KEY (key-encryption.ts) is a
 * CA's key (cas.encrypted_key, created or imported, with or without a passphrase layer) or a stored
 * managed key (certificates.encrypted_key). The rotation reads them a page at a time in id order and
 * writes each page back in one statement, all inside one transaction that first locks both tables
 * against writers (readers, such as OCSP and CRL serving, go on).
 */
import type { EntityManager } from 'typeorm';

/** The tables holding blobs sealed under MASTER_KEY. */
export const SEALED_KEY_TABLES = ['cas', 'certificates'] as const;
export type SealedKeyTable = (typeof SEALED_KEY_TABLES)[number];

export interface SealedKeyRow {
  id: string;
  encryptedKey: Buffer;
  /** Only CAs have a passphrase layer; stored leaf keys never do. */
  hasPassphrase: boolean;
}

/**
 * Lock both tables against every writer (and against a second rotation: SHARE ROW EXCLUSIVE conflicts
 * with itself) until the transaction ends; waits at most `lockTimeoutMs` for writers in flight, so a
 * signer still running fails the rotation instead of hanging it. Needs a transaction.
 */
export async function lockSealedKeyTables(manager: EntityManager, lockTimeoutMs: number): Promise<void> {
  await manager.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.max(1, Math.floor(lockTimeoutMs))}ms`]);
  await manager.query(`LOCK TABLE cas, certificates IN SHARE ROW EXCLUSIVE MODE`);
}

/** How many sealed blobs each table holds (CAs: all; certificates: those with a stored key). */
export async function countSealedKeys(manager: EntityManager): Promise<Record<SealedKeyTable, number>> {
  const [row] = await manager.query(
    `SELECT (SELECT count(*) FROM cas)::int AS cas, (SELECT count(*) FROM certificates WHERE encrypted_key IS NOT NULL)::int AS certificates`,
  );
  return { cas: row.cas, certificates: row.certificates };
}

/** The next `limit` sealed blobs of `table` after id `afterId` (null: from the start), in id order. */
export async function sealedKeyPage(manager: EntityManager, table: SealedKeyTable, afterId: string | null, limit: number): Promise<SealedKeyRow[]> {
  const rows: { id: string; encrypted_key: Buffer; has_passphrase: boolean }[] =
    table === 'cas'
      ? await manager.query(
          `SELECT id, encrypted_key, has_passphrase FROM cas WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
          [afterId, limit],
        )
      : await manager.query(
          `SELECT id, encrypted_key, false AS has_passphrase FROM certificates
            WHERE encrypted_key IS NOT NULL AND ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
          [afterId, limit],
        );
  return rows.map((r) => ({ id: r.id, encryptedKey: r.encrypted_key, hasPassphrase: r.has_passphrase }));
}

/**
 * Replace blobs of `table`, one statement. Each row is written only if it still holds the blob it was
 * read with (`previous`), so the count answered equals rows.length unless something else changed them.
 */
export async function replaceSealedKeys(
  manager: EntityManager,
  table: SealedKeyTable,
  rows: { id: string; previous: Buffer; encryptedKey: Buffer }[],
): Promise<number> {
  if (!rows.length) return 0;
  const [, affected] = await manager.query(
    `UPDATE ${table === 'cas' ? 'cas' : 'certificates'} AS t SET encrypted_key = u.next
       FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS u(id, previous, next)
      WHERE t.id = u.id AND t.encrypted_key = u.previous`,
    [rows.map((r) => r.id), rows.map((r) => r.previous), rows.map((r) => r.encryptedKey)],
  );
  return affected as number;
}
