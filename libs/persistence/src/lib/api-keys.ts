/**
 * API key rows: the insert of a new key, the look-up that authenticates a request, an org's (or the
 * platform's) list, and revocation, which follows who minted whom: a platform key's revocation takes
 * every platform key it minted, and what those minted, with it (a recursive walk of
 * `created_by_key_id`, bounded).
 */
import { EntityManager, FindOptionsWhere, IsNull } from 'typeorm';
import { ApiKeyEntity } from './entities';

/** What minting a key stores; id and createdAt take their defaults. */
export type ApiKeyInsert = Pick<
  ApiKeyEntity,
  'orgId' | 'keyId' | 'secretHash' | 'name' | 'prefix' | 'role' | 'permissions' | 'expiresAt' | 'revokedAt' | 'createdByKeyId'
>;

/** Insert a key (inside `manager`'s transaction); returns the stored row, id and createdAt included. */
export function insertApiKey(manager: EntityManager, row: ApiKeyInsert): Promise<ApiKeyEntity> {
  return manager.getRepository(ApiKeyEntity).save(row) as Promise<ApiKeyEntity>;
}

/** The key of this keyId (the public part of a token), revoked and expired ones too; null when there is none. */
export function apiKeyByKeyId(manager: EntityManager, keyId: string): Promise<ApiKeyEntity | null> {
  return manager.getRepository(ApiKeyEntity).findOneBy({ keyId });
}

/** An org's keys (`orgId`), or the platform's own keys (null): an org admin manages the first, a platform admin the second. */
const keysOf = (orgId: string | null, where: FindOptionsWhere<ApiKeyEntity>): FindOptionsWhere<ApiKeyEntity> =>
  orgId ? { ...where, orgId } : { ...where, orgId: IsNull(), role: 'platform' };

/** One page of the org's keys (null: the platform's keys), newest first, and how many there are. One query. */
export function apiKeysPage(manager: EntityManager, orgId: string | null, page: { skip: number; take: number }): Promise<[ApiKeyEntity[], number]> {
  return manager.getRepository(ApiKeyEntity).findAndCount({
    where: keysOf(orgId, {}),
    order: { createdAt: 'DESC', id: 'ASC' },
    skip: page.skip,
    take: page.take,
  });
}

/** The org's key of this id (null: the platform's), its row locked (FOR UPDATE) until `manager`'s transaction ends; null when there is none. */
export function lockedApiKey(manager: EntityManager, id: string, orgId: string | null): Promise<ApiKeyEntity | null> {
  return manager.getRepository(ApiKeyEntity).findOne({ where: keysOf(orgId, { id }), lock: { mode: 'pessimistic_write' } });
}

/** Set the key's revokedAt (inside the revocation's transaction). */
export async function markApiKeyRevoked(manager: EntityManager, id: string, at: Date): Promise<void> {
  await manager.getRepository(ApiKeyEntity).update({ id }, { revokedAt: at });
}

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
