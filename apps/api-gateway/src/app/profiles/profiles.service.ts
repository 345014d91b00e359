/**
 * Certificate profiles (API.md section 5): the issuance policy of one CA under a name and a slug. Here
 * they are kept; the signer and the issuing routes read them (findLiveProfile / liveProfilesById).
 *
 * Every refusal happens before anything is written, and each write commits with its audit event. A
 * profile is never removed: DELETE sets deleted_at (its certificates keep their profileId), which also
 * frees its slug (the unique index covers live profiles only).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  KeyAlgorithmName, ProfileEntity, caValidityInOrg, findLiveProfile, insertProfile, isUniqueViolation, liveProfilesPage, lockLiveProfile, saveProfile,
  softDeleteProfile,
} from '@signet/persistence';
import { normalizeDnsName } from '@signet/pki';
import { ApiError, FieldError, extendedKeyUsageFor } from '@signet/service';
import { DataSource, EntityManager } from 'typeorm';
import { OrgPrincipal, readableCaIds } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { CreateProfileDto, ProfileChanges, UpdateProfileDto } from './profile.dto';
import { profileView } from './profile.view';
import type { OrgCaller } from '../access/caller';

/** The policy columns of a profile, as a create fills them in and a PATCH changes them. */
type ProfilePolicy = Pick<
  ProfileEntity,
  | 'name' | 'slug' | 'description' | 'environment' | 'allowedDomains' | 'allowWildcards' | 'allowIpSans' | 'allowedKeyAlgorithms'
  | 'defaultValidityDays' | 'maxValidityDays' | 'usage' | 'extendedKeyUsage' | 'requireApproval' | 'approvalTtlHours' | 'acmeEabRequired'
>;

const DEFAULTS: Omit<ProfilePolicy, 'name' | 'slug'> = {
  description: null,
  environment: null,
  allowedDomains: [],
  allowWildcards: true,
  allowIpSans: true,
  allowedKeyAlgorithms: [],
  defaultValidityDays: 90,
  maxValidityDays: 397,
  usage: 'server',
  extendedKeyUsage: null,
  requireApproval: false,
  approvalTtlHours: 72,
  acmeEabRequired: true,
};

/** The fields a body sets (undefined: left as they are), in the stored form: domains lowercase, lists without repeats. */
function changesOf(dto: ProfileChanges): Partial<ProfilePolicy> {
  const changes: Partial<ProfilePolicy> = {};
  for (const [key, value] of Object.entries(dto) as [keyof ProfilePolicy, unknown][]) {
    if (value !== undefined) (changes as Record<string, unknown>)[key] = value;
  }
  if (dto.allowedDomains) changes.allowedDomains = [...new Set(dto.allowedDomains.map(normalizeDnsName))];
  if (dto.allowedKeyAlgorithms) changes.allowedKeyAlgorithms = [...new Set(dto.allowedKeyAlgorithms)] as KeyAlgorithmName[];
  // An empty list says the same as null: the EKU that usage stands for.
  if (dto.extendedKeyUsage !== undefined) changes.extendedKeyUsage = dto.extendedKeyUsage?.length ? [...new Set(dto.extendedKeyUsage)] : null;
  return changes;
}

/** The rules between fields, on the profile as it would be stored: each bad field named. */
function crossFieldErrors(p: ProfilePolicy): FieldError[] {
  const errors: FieldError[] = [];
  if (p.defaultValidityDays > p.maxValidityDays) {
    const why = `defaultValidityDays (${p.defaultValidityDays}) must not exceed maxValidityDays (${p.maxValidityDays})`;
    errors.push({ field: 'defaultValidityDays', messages: [why] }, { field: 'maxValidityDays', messages: [why] });
  }
  try {
    extendedKeyUsageFor(p.usage, p.extendedKeyUsage ?? undefined);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    errors.push(...((error.details?.fields as FieldError[] | undefined) ?? [{ field: 'extendedKeyUsage', messages: [error.message] }]));
  }
  return errors;
}

/** Where a refused create or update names its fields: only in a validation_failed. */
function refuseIfAny(errors: FieldError[]): void {
  if (errors.length) throw ApiError.validation(errors);
}

@Injectable()
export class ProfilesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(caller: OrgCaller, dto: CreateProfileDto) {
    const principal = caller.principal;
    const policy: ProfilePolicy = { ...DEFAULTS, ...changesOf(dto), name: dto.name, slug: dto.slug };
    refuseIfAny([...crossFieldErrors(policy), ...(await this.caErrors(principal.orgId, dto.caId))]);
    const saved = await this.unlessSlugTaken(policy.slug, () =>
      this.dataSource.transaction(async (manager) => {
        const row = await insertProfile(manager, { ...policy, orgId: principal.orgId, caId: dto.caId });
        await this.audit.record(caller, { eventType: 'profile.create', resourceType: 'profile', resourceId: row.id, details: { name: row.name, slug: row.slug, caId: row.caId } }, manager);
        return row;
      }),
    );
    return { profile: profileView(saved) };
  }

  async list(principal: OrgPrincipal, q: PageQueryDto) {
    const [rows, total] = await liveProfilesPage(this.dataSource.manager, principal.orgId, readableCaIds(principal), { skip: skipOf(q), take: q.pageSize });
    return pageOf('profiles', rows.map(profileView), total, q);
  }

  async get(principal: OrgPrincipal, id: string) {
    return { profile: profileView(await this.readable(this.dataSource.manager, principal, id)) };
  }

  async update(caller: OrgCaller, id: string, dto: UpdateProfileDto) {
    const principal = caller.principal;
    const changes = changesOf(dto);
    const saved = await this.unlessSlugTaken(changes.slug, () =>
      this.dataSource.transaction(async (manager) => {
        const row = await lockLiveProfile(manager, principal.orgId, id);
        if (!row) throw ApiError.notFound('profile');
        const changed = (Object.keys(changes) as (keyof ProfilePolicy)[]).filter((key) => JSON.stringify(changes[key]) !== JSON.stringify(row[key]));
        Object.assign(row, changes);
        refuseIfAny(crossFieldErrors(row));
        if (!changed.length) return row;
        const updated = await saveProfile(manager, row);
        await this.audit.record(caller, { eventType: 'profile.update', resourceType: 'profile', resourceId: id, details: { changed } }, manager);
        return updated;
      }),
    );
    return { profile: profileView(saved) };
  }

  async remove(caller: OrgCaller, id: string) {
    const principal = caller.principal;
    await this.dataSource.transaction(async (manager) => {
      if (!(await softDeleteProfile(manager, principal.orgId, id))) throw ApiError.notFound('profile');
      await this.audit.record(caller, { eventType: 'profile.delete', resourceType: 'profile', resourceId: id }, manager);
    });
  }

  /** The live profile if this key may read it: its CA readable (a member) or any of the org (an admin); 404 otherwise. */
  private async readable(manager: EntityManager, principal: OrgPrincipal, id: string): Promise<ProfileEntity> {
    const profile = await findLiveProfile(manager, principal.orgId, id);
    const readable = readableCaIds(principal);
    if (!profile || (readable && !readable.includes(profile.caId))) throw ApiError.notFound('profile');
    return profile;
  }

  /**
   * What is wrong with `caId` as a profile's CA. Another org's CA reads as no CA at all, and as a bad
   * field (400), not a missing resource, so ids of other orgs cannot be probed.
   */
  private async caErrors(orgId: string, caId: string): Promise<FieldError[]> {
    const ca = await caValidityInOrg(this.dataSource.manager, caId, orgId);
    const fault = !ca ? 'no certificate authority of this org has this id' : ca.status === 'revoked' ? 'the CA is revoked' : ca.validTo <= new Date() ? 'the CA has expired' : null;
    return fault ? [{ field: 'caId', messages: [fault] }] : [];
  }

  /** A second live profile with the same slug in the org: 409, from the partial unique index (so also when two creates race). */
  private async unlessSlugTaken<T>(slug: string | undefined, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (slug !== undefined && isUniqueViolation(error)) throw new ApiError('conflict', `a profile with slug "${slug}" already exists in this org`, { field: 'slug' });
      throw error;
    }
  }
}
