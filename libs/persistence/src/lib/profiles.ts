/**
 * Profile look-ups shared by the gateway (resolving `profileId` / `profile` of a request) and the signer
 * (the policy it issues under). A deleted profile is never found: issuance under it is refused.
 */
import type { EntityManager } from 'typeorm';
import { IsNull } from 'typeorm';
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
