/**
 * Profiles: look-ups shared by the gateway (resolving `profileId` / `profile` of a request) and the
 * signer (the policy it issues under), and the gateway's writes. A deleted profile is never found:
 * issuance under it is refused.
 */
import type { EntityManager } from 'typeorm';
import { IsNull, QueryFailedError } from 'typeorm';
import { ProfileEntity } from './entities/profile.entity';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The org's live profile with this id, or (not a UUID) this slug. */
export async function findLiveProfile(manager: EntityManager, orgId: string, idOrSlug: string): Promise<ProfileEntity | null> {
  const where = UUID.test(idOrSlug) ? { id: idOrSlug.toLowerCase() } : { slug: idOrSlug };
  return manager.getRepository(ProfileEntity).findOneBy({ ...where, orgId, deletedAt: IsNull() });
}

/** Live profiles by id, one query (the signer reads the profiles of a coalesced job at once). */
export async function liveProfilesById(manager: EntityManager, ids: string[]): Promise<Map<string, ProfileEntity>> {
  if (!ids.length) return new Map();
  const rows: ProfileEntity[] = await manager.getRepository(ProfileEntity).createQueryBuilder('p')
    .where('p.id = ANY(:ids)', { ids }).andWhere('p.deleted_at IS NULL').getMany();
  return new Map(rows.map((p) => [p.id, p]));
}

/**
 * One page of the org's live profiles, oldest first; `caIds` narrows to profiles of those CAs (a member
 * key's readable CAs), null means every CA of the org.
 */
export async function liveProfilesPage(
  manager: EntityManager,
  orgId: string,
  caIds: string[] | null,
  page: { skip: number; take: number },
): Promise<[ProfileEntity[], number]> {
  if (caIds?.length === 0) return [[], 0];
  const query = manager.getRepository(ProfileEntity).createQueryBuilder('p')
    .where('p.org_id = :orgId', { orgId }).andWhere('p.deleted_at IS NULL');
  if (caIds) query.andWhere('p.ca_id = ANY(:caIds)', { caIds });
  return query.orderBy('p.created_at', 'ASC').addOrderBy('p.id', 'ASC').skip(page.skip).take(page.take).getManyAndCount();
}

/** The org's live profile with this id, locked for the rest of the transaction (an update or delete). */
export async function lockLiveProfile(manager: EntityManager, orgId: string, id: string): Promise<ProfileEntity | null> {
  return manager.getRepository(ProfileEntity).createQueryBuilder('p')
    .where('p.id = :id AND p.org_id = :orgId AND p.deleted_at IS NULL', { id, orgId })
    .setLock('pessimistic_write').getOne();
}

/** What creating a profile stores; id, timestamps and deletedAt take their defaults. */
export type ProfileInsert = Omit<ProfileEntity, 'id' | 'createdAt' | 'updatedAt' | 'deletedAt'>;

/** Insert a profile (inside `manager`'s transaction); a live profile of the org with its slug fails with 23505 (isUniqueViolation). */
export function insertProfile(manager: EntityManager, profile: ProfileInsert): Promise<ProfileEntity> {
  const repo = manager.getRepository(ProfileEntity);
  return repo.save(repo.create(profile));
}

/** Write the changes made to a profile read with lockLiveProfile (in the same transaction); returns it as stored. */
export function saveProfile(manager: EntityManager, profile: ProfileEntity): Promise<ProfileEntity> {
  return manager.getRepository(ProfileEntity).save(profile);
}

/** Soft delete: the row stays (certificates keep their profileId), its slug is free again. False when there was no live one. */
export async function softDeleteProfile(manager: EntityManager, orgId: string, id: string): Promise<boolean> {
  const result = await manager.createQueryBuilder().update(ProfileEntity).set({ deletedAt: () => 'now()' })
    .where('id = :id AND org_id = :orgId AND deleted_at IS NULL', { id, orgId }).execute();
  return (result.affected ?? 0) > 0;
}

/** PostgreSQL's unique_violation, as TypeORM rethrows it: e.g. a second live profile with a slug. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505';
}
