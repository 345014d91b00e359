/** Org rows: a new org's insert, the platform admin's list, a look-up by id or slug. */
import type { EntityManager } from 'typeorm';
import { OrgEntity } from './entities';

/** Insert an org (inside `manager`'s transaction); a taken slug fails with 23505 (isUniqueViolation). Returns the stored row. */
export function insertOrg(manager: EntityManager, org: Pick<OrgEntity, 'name' | 'slug'>): Promise<OrgEntity> {
  return manager.getRepository(OrgEntity).save({ name: org.name, slug: org.slug });
}

/** One page of every org, oldest first, and how many there are. One query. */
export function orgsPage(manager: EntityManager, page: { skip: number; take: number }): Promise<[OrgEntity[], number]> {
  return manager.getRepository(OrgEntity).findAndCount({ order: { createdAt: 'ASC', id: 'ASC' }, skip: page.skip, take: page.take });
}

/** The org of this id; null when there is none. */
export function orgById(manager: EntityManager, id: string): Promise<OrgEntity | null> {
  return manager.getRepository(OrgEntity).findOneBy({ id });
}

/** The org of this slug (ACME directories are named by it); null when there is none. */
export function orgBySlug(manager: EntityManager, slug: string): Promise<OrgEntity | null> {
  return manager.getRepository(OrgEntity).findOneBy({ slug });
}
