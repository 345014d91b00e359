/**
 * Enrollment policies: which devices may enroll on 8443 (holders of certificates from `trustedCaIds`)
 * and how they are issued. Every change is audited and announced on Redis, so the enroll servers reload
 * their trust store within moments.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  EnrollmentPolicyEntity, caIdsInOrg, deleteEnrollmentPolicy, enrollmentPoliciesPage, findLiveProfile, insertEnrollmentPolicy,
} from '@signet/persistence';
import { enrollmentPoliciesChannel } from '@signet/queue';
import { ApiError, REDIS, USAGE_EKU } from '@signet/service';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { OrgPrincipal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { CreateEnrollmentPolicyDto } from './enrollment-policy.dto';
import type { OrgCaller } from '../access/caller';

export const policyView = (p: EnrollmentPolicyEntity) => ({
  id: p.id,
  name: p.name,
  trustedCaIds: p.trustedCaIds,
  issuingCaId: p.issuingCaId,
  validityDays: p.validityDays,
  usage: p.usage,
  allowedKeyAlgorithms: p.allowedKeyAlgorithms,
  subjectRule: p.subjectRule,
  profileId: p.profileId,
  createdAt: p.createdAt.toISOString(),
});

@Injectable()
export class EnrollmentPoliciesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly audit: AuditService,
  ) {}

  async create(caller: OrgCaller, dto: CreateEnrollmentPolicyDto) {
    const principal = caller.principal;
    // A policy has no extendedKeyUsage of its own: only API.md's labels, whose EKU is known (a custom label
    // belongs on a profile, with its extendedKeyUsage).
    if (!Object.prototype.hasOwnProperty.call(USAGE_EKU, dto.usage)) {
      throw ApiError.validation([{ field: 'usage', messages: [`usage "${dto.usage}" is not a usage label a policy can issue (client, server, server-client, ...)`] }]);
    }
    const named = [...new Set([...dto.trustedCaIds, dto.issuingCaId])];
    const found = await caIdsInOrg(this.dataSource.manager, principal.orgId, named);
    const missing = named.filter((id) => !found.has(id));
    if (missing.length) throw new ApiError('not_found', 'certificate authority not found', { caIds: missing });
    // Enrollment issues under the profile, so it must be one of issuingCaId (the signer checks it again when it issues).
    const profile = dto.profileId ? await findLiveProfile(this.dataSource.manager, principal.orgId, dto.profileId) : null;
    if (dto.profileId && profile?.caId !== dto.issuingCaId) {
      throw ApiError.validation([{ field: 'profileId', messages: [profile ? 'the profile is of another CA than issuingCaId' : 'no live profile of this org has this id'] }]);
    }
    const policy = await this.dataSource.transaction(async (manager) => {
      const saved = await insertEnrollmentPolicy(manager, {
        orgId: principal.orgId,
        name: dto.name,
        trustedCaIds: [...new Set(dto.trustedCaIds)],
        issuingCaId: dto.issuingCaId,
        validityDays: dto.validityDays,
        usage: dto.usage,
        allowedKeyAlgorithms: [...new Set(dto.allowedKeyAlgorithms)] as EnrollmentPolicyEntity['allowedKeyAlgorithms'],
        subjectRule: dto.subjectRule,
        profileId: profile?.id ?? null,
      });
      await this.audit.record(caller, { eventType: 'enrollmentPolicy.create', resourceType: 'enrollmentPolicy', resourceId: saved.id, details: { name: saved.name, trustedCaIds: saved.trustedCaIds, issuingCaId: saved.issuingCaId, profileId: saved.profileId } }, manager);
      return saved;
    });
    await this.announce();
    return { policy: policyView(policy) };
  }

  async list(principal: OrgPrincipal, q: PageQueryDto) {
    const [rows, total] = await enrollmentPoliciesPage(this.dataSource.manager, principal.orgId, { skip: skipOf(q), take: q.pageSize });
    return pageOf('policies', rows.map(policyView), total, q);
  }

  async remove(caller: OrgCaller, id: string) {
    const principal = caller.principal;
    await this.dataSource.transaction(async (manager) => {
      if (!(await deleteEnrollmentPolicy(manager, id, principal.orgId))) throw ApiError.notFound('enrollment policy');
      await this.audit.record(caller, { eventType: 'enrollmentPolicy.delete', resourceType: 'enrollmentPolicy', resourceId: id }, manager);
    });
    await this.announce();
  }

  /** Best effort: the enroll servers also re-read the policies every few seconds. */
  private async announce(): Promise<void> {
    await this.redis.publish(enrollmentPoliciesChannel(this.config.QUEUE_PREFIX), String(Date.now())).catch(() => undefined);
  }
}
