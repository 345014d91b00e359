/** Enrollment policies as the gateway keeps them and the enroll server's trust store reads them. */
import type { EntityManager } from 'typeorm';
import { EnrollmentPolicyEntity } from './entities';

/** Every enrollment policy, of every org, oldest first (ties by id): the order the trust store picks a policy for a CA in. */
export function enrollmentPoliciesOldestFirst(manager: EntityManager): Promise<EnrollmentPolicyEntity[]> {
  return manager.getRepository(EnrollmentPolicyEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } });
}

/** What creating a policy stores; id and createdAt take their defaults. */
export type EnrollmentPolicyInsert = Pick<
  EnrollmentPolicyEntity,
  'orgId' | 'name' | 'trustedCaIds' | 'issuingCaId' | 'validityDays' | 'usage' | 'allowedKeyAlgorithms' | 'subjectRule' | 'profileId'
>;

/** Insert a policy (inside `manager`'s transaction); returns the stored row. */
export function insertEnrollmentPolicy(manager: EntityManager, policy: EnrollmentPolicyInsert): Promise<EnrollmentPolicyEntity> {
  const repo = manager.getRepository(EnrollmentPolicyEntity);
  return repo.save(repo.create(policy));
}

/** One page of the org's policies, oldest first (ties by id), and how many there are. One query. */
export function enrollmentPoliciesPage(manager: EntityManager, orgId: string, page: { skip: number; take: number }): Promise<[EnrollmentPolicyEntity[], number]> {
  return manager.getRepository(EnrollmentPolicyEntity).findAndCount({
    where: { orgId }, order: { createdAt: 'ASC', id: 'ASC' }, skip: page.skip, take: page.take,
  });
}

/** Delete the org's policy of this id (inside `manager`'s transaction); false when it had none. */
export async function deleteEnrollmentPolicy(manager: EntityManager, id: string, orgId: string): Promise<boolean> {
  const deleted = await manager.getRepository(EnrollmentPolicyEntity).delete({ id, orgId });
  return !!deleted.affected;
}
