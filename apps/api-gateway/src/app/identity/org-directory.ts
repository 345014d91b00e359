/**
 * Org rows by id, cached: `whoami` and every org-scoped response would otherwise pay a query for a row
 * that never changes after creation.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OrgEntity, orgById } from '@signet/persistence';
import { DataSource } from 'typeorm';

const TTL_MS = 60_000;

@Injectable()
export class OrgDirectory {
  private readonly cache = new Map<string, { org: OrgEntity | null; at: number }>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async get(id: string): Promise<OrgEntity | null> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.org;
    const org = await orgById(this.dataSource.manager, id);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { org, at: Date.now() });
    return org;
  }
}
