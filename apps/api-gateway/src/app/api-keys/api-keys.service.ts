/**
 * Creating, listing and revoking API keys, for orgs (org admin) and for the platform (platform admin).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  ApiKeyEntity, ApiKeyRole, CaPermissions, apiKeysPage, caIdsInOrg, insertApiKey, lockLiveMinter, lockedApiKey, markApiKeyRevoked, revokeMintedPlatformKeys,
} from '@signet/persistence';
import { ApiError } from '@signet/service';
import { DataSource, EntityManager } from 'typeorm';
import { ApiKeyStore } from '../access/api-key-store';
import { generateApiKey } from '../access/api-key-token';
import { AuditService } from '../audit/audit.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { apiKeyView } from './api-key.view';
import type { Caller } from '../access/caller';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface NewKeySpec {
  orgId: string | null;
  name: string;
  role: ApiKeyRole;
  permissions?: CaPermissions;
  expiresAt?: Date | null;
  createdByKeyId?: string | null;
}

@Injectable()
export class ApiKeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: ApiKeyStore,
    private readonly audit: AuditService,
  ) {}

  /** Insert a key with `manager` (the caller's transaction); returns the row and the one-time token. */
  async insert(manager: EntityManager, spec: NewKeySpec): Promise<{ row: ApiKeyEntity; token: string }> {
    const key = generateApiKey();
    const row = await insertApiKey(manager, {
      orgId: spec.orgId,
      keyId: key.keyId,
      secretHash: key.secretHash,
      name: spec.name,
      prefix: key.prefix,
      role: spec.role,
      permissions: spec.permissions ?? {},
      expiresAt: spec.expiresAt ?? null,
      revokedAt: null,
      createdByKeyId: spec.createdByKeyId ?? null,
    });
    return { row, token: key.token };
  }

  async create(caller: Caller, spec: NewKeySpec) {
    const expiresAt = spec.expiresAt ?? null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw ApiError.validation([{ field: 'expiresAt', messages: ['expiresAt must be in the future'] }]);
    }
    if (spec.role === 'admin' && spec.permissions && Object.keys(spec.permissions).length) {
      throw ApiError.validation([{ field: 'permissions', messages: ['permissions apply to member keys only; an admin key may do everything in its org'] }]);
    }
    const createdByKeyId = caller.principal.apiKeyId ?? null;
    return this.dataSource.transaction(async (manager) => {
      if (spec.orgId && spec.permissions) await this.assertCasOfOrg(manager, spec.orgId, Object.keys(spec.permissions));
      // A key revoked while it mints: this one is refused, or revoked with the rest of what it minted.
      if (createdByKeyId && !(await lockLiveMinter(manager, createdByKeyId))) throw new ApiError('unauthorized', 'the API key was revoked');
      const { row, token } = await this.insert(manager, { ...spec, createdByKeyId });
      await this.audit.record(
        caller,
        {
          eventType: 'apiKey.create',
          resourceType: 'apiKey',
          resourceId: row.id,
          orgId: spec.orgId,
          details: { name: row.name, role: row.role, prefix: row.prefix, permissions: row.permissions },
        },
        manager,
      );
      return { apiKey: apiKeyView(row), key: token };
    });
  }

  /** Keys of one org, or the platform's own keys when `orgId` is null. */
  async list(orgId: string | null, q: PageQueryDto) {
    const [rows, total] = await apiKeysPage(this.dataSource.manager, orgId, { skip: skipOf(q), take: q.pageSize });
    return pageOf('apiKeys', rows.map(apiKeyView), total, q);
  }

  /**
   * Revoke at once, on every replica. Revoking a revoked key again is a no-op; another org's key is 404.
   * A platform key takes the platform keys it minted with it, transitively (audited in its event).
   */
  async revoke(caller: Caller, orgId: string | null, id: string): Promise<void> {
    const revoked: string[] = [];
    await this.dataSource.transaction(async (manager) => {
      const row = await lockedApiKey(manager, id, orgId);
      if (!row) throw ApiError.notFound('API key');
      const at = new Date();
      if (!row.revokedAt) await markApiKeyRevoked(manager, id, at);
      // Also when the key itself was revoked before: what it minted meanwhile (or before this rule) goes too.
      const minted = row.role === 'platform' ? await revokeMintedPlatformKeys(manager, id, at) : [];
      revoked.push(row.keyId, ...minted);
      if (row.revokedAt && !minted.length) return;
      await this.audit.record(
        caller,
        {
          eventType: 'apiKey.revoke', resourceType: 'apiKey', resourceId: id, orgId,
          details: { name: row.name, prefix: row.prefix, ...(minted.length ? { mintedKeysRevoked: minted.length } : {}) },
        },
        manager,
      );
    });
    for (const keyId of revoked) await this.store.invalidate(keyId);
  }

  /** Every key of `permissions` must be the id (a lowercase UUID, as ids are written) of a CA of the org. */
  private async assertCasOfOrg(manager: EntityManager, orgId: string, caIds: string[]): Promise<void> {
    if (!caIds.length) return;
    const ids = caIds.filter((id) => UUID.test(id));
    const known = await caIdsInOrg(manager, orgId, ids);
    const unknown = caIds.filter((id) => !known.has(id));
    if (unknown.length) {
      throw ApiError.validation(unknown.map((id) => ({ field: `permissions.${id}`, messages: ['no such certificate authority in this org'] })));
    }
  }
}
