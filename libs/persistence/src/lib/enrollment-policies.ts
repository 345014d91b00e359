/** Enrollment policies as the enroll server's trust store reads them. */
import type { EntityManager } from 'typeorm';
import { EnrollmentPolicyEntity } from './entities';

/** Every enrollment policy, of every org, oldest first (ties by id): the order the trust store picks a policy for a CA in. */
export function enrollmentPoliciesOldestFirst(manager: EntityManager): Promise<EnrollmentPolicyEntity[]> {
  return manager.getRepository(EnrollmentPolicyEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } });
}
