/**
 * API key revocation that follows who minted whom: a platform key's revocation takes every platform
 * key it minted, and what those minted, with it (a recursive walk of `created_by_key_id`, bounded).
 */
import type { EntityManager } from 'typeorm';

/**
 * Revoke, at `at`, the live platform keys minted by platform key `id`, transitively; returns their
 * `key_id`s (for the caches of every gateway to drop). Run it in the revocation's transaction.
 *
 * A key being minted meanwhile holds its minter's row FOR SHARE (lockLiveMinter): the UPDATE waits for
 * that mint to commit, and the walk runs again (a new snapshot) until it revokes nothing more.
 */
export async function revokeMintedPlatformKeys(manager: EntityManager, id: string, at: Date): Promise<string[]> {
  const revoked: string[] = [];
  for (;;) {
    const pass = await revokeMintedOnce(manager, id, at);
    if (!pass.length) return revoked;
    revoked.push(...pass);
  }
}

async function revokeMintedOnce(manager: EntityManager, id: string, at: Date): Promise<string[]> {
  const rows: { key_id: string }[] = await manager.query(
    `WITH RECURSIVE minted (id, n) AS (
        SELECT k.id, 1 FROM api_keys k WHERE k.created_by_key_id = $1 AND k.role = 'platform' AND k.org_id IS NULL
        UNION
        SELECT k.id, minted.n + 1 FROM minted JOIN api_keys k ON k.created_by_key_id = minted.id
         WHERE k.role = 'platform' AND k.org_id IS NULL AND minted.n < 64
      ), revoked AS (
        UPDATE api_keys SET revoked_at = $2 WHERE id IN (SELECT id FROM minted) AND revoked_at IS NULL RETURNING key_id
      )
      -- A SELECT (not the bare UPDATE): TypeORM hands back the rows of a SELECT as they are.
      SELECT key_id FROM revoked`,
    [id, at],
  );
  return rows.map((r) => r.key_id);
}

/**
 * Lock the minting key's row (FOR SHARE) for the rest of the caller's transaction and say whether it is
 * still live: a key minted while its minter is being revoked is either refused here or committed
 * before that revocation walks (which waits for this lock), so it is revoked with the rest.
 */
export async function lockLiveMinter(manager: EntityManager, id: string): Promise<boolean> {
  const [row] = await manager.query(`SELECT revoked_at FROM api_keys WHERE id = $1 FOR SHARE`, [id]);
  return !!row && row.revoked_at === null;
}
