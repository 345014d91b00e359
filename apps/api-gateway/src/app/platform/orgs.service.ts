import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { insertOrg, isUniqueViolation, orgById, orgsPage } from '@signet/persistence';
import { ApiError } from '@signet/service';
import { DataSource } from 'typeorm';
import { ApiKeysService } from '../api-keys/api-keys.service';
import { AuditService } from '../audit/audit.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { CreateOrgDto, orgView } from './org.dto';
import type { Caller } from '../access/caller';

@Injectable()
export class OrgsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keys: ApiKeysService,
    private readonly audit: AuditService,
  ) {}

  /** The org, its first admin key and both audit events commit together or not at all. */
  async create(caller: Caller, dto: CreateOrgDto) {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const org = await insertOrg(manager, { name: dto.name, slug: dto.slug });
        const { row, token } = await this.keys.insert(manager, {
          orgId: org.id,
          name: `${dto.slug} admin`,
          role: 'admin',
          createdByKeyId: caller.principal.apiKeyId ?? null,
        });
        await this.audit.record(caller, { eventType: 'org.create', resourceType: 'org', resourceId: org.id, orgId: org.id, details: { name: org.name, slug: org.slug } }, manager);
        await this.audit.record(caller, { eventType: 'apiKey.create', resourceType: 'apiKey', resourceId: row.id, orgId: org.id, details: { name: row.name, role: row.role, prefix: row.prefix } }, manager);
        return { org: orgView(org), adminKey: token };
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ApiError('conflict', `an org with slug "${dto.slug}" already exists`, { field: 'slug' });
      }
      throw error;
    }
  }

  async list(q: PageQueryDto) {
    const [rows, total] = await orgsPage(this.dataSource.manager, { skip: skipOf(q), take: q.pageSize });
    return pageOf('orgs', rows.map(orgView), total, q);
  }

  async get(id: string) {
    const org = await orgById(this.dataSource.manager, id);
    if (!org) throw ApiError.notFound('org');
    return { org: orgView(org) };
  }
}
