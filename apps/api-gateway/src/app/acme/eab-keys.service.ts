/**
 * External account binding keys (API.md section 7): an org admin makes one per profile and hands its
 * key id and HMAC key to whoever may register an ACME account there. The HMAC key is shown once: it is
 * stored only sealed to the signers' transport key (derived from MASTER_KEY), which the gateway cannot
 * open, and a signer checks each binding with it (acme.verifyEab). An EAB key binds one account.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AcmeEabKeyRow, acmeEabKeyInOrg, acmeEabKeysOfOrg, deleteAcmeEabKey, findLiveProfile, insertAcmeEabKey } from '@signet/persistence';
import { seal } from '@signet/queue';
import { ApiError, SignerClient } from '@signet/service';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { OrgCaller } from '../access/caller';
import { AuditService } from '../audit/audit.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import type { CreateEabKeyDto, ListEabKeysDto } from './eab-key.dto';

export const eabKeyView = (row: AcmeEabKeyRow) => ({
  id: row.id, keyId: row.keyId, profileId: row.profileId, name: row.name, createdAt: row.createdAt.toISOString(), boundAccountId: row.boundAccountId,
});

@Injectable()
export class EabKeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signer: SignerClient,
    private readonly audit: AuditService,
  ) {}

  async create(caller: OrgCaller, dto: CreateEabKeyDto) {
    const orgId = caller.principal.orgId;
    const profile = await findLiveProfile(this.dataSource.manager, orgId, dto.profileId);
    if (!profile || profile.id !== dto.profileId) throw ApiError.validation([{ field: 'profileId', messages: ['no live profile of this org has that id'] }]);
    const hmacKey = randomBytes(32).toString('base64url');
    const sealed = seal(hmacKey, await this.signer.transportKey());
    const row = await this.dataSource.transaction(async (manager) => {
      const inserted = await insertAcmeEabKey(manager, {
        id: randomUUID(), orgId, profileId: profile.id, keyId: randomBytes(18).toString('base64url'), name: dto.name ?? null, encryptedKey: Buffer.from(sealed, 'utf8'),
      });
      // The key id is not secret; the HMAC key is never recorded anywhere but sealed.
      await this.audit.record(caller, { eventType: 'acme.eabKey.create', resourceType: 'acmeEabKey', resourceId: inserted.id, details: { keyId: inserted.keyId, profileId: profile.id, name: inserted.name } }, manager);
      return inserted;
    });
    return { eabKey: eabKeyView(row), hmacKey };
  }

  async list(caller: OrgCaller, q: ListEabKeysDto) {
    const { rows, total } = await acmeEabKeysOfOrg(this.dataSource.manager, caller.principal.orgId, { offset: skipOf(q), limit: q.pageSize }, q.profileId);
    return pageOf('eabKeys', rows.map(eabKeyView), total, q as PageQueryDto);
  }

  async remove(caller: OrgCaller, id: string) {
    await this.dataSource.transaction(async (manager) => {
      const row = await acmeEabKeyInOrg(manager, id, caller.principal.orgId);
      if (!row || !(await deleteAcmeEabKey(manager, id, caller.principal.orgId))) throw ApiError.notFound('EAB key');
      await this.audit.record(caller, { eventType: 'acme.eabKey.delete', resourceType: 'acmeEabKey', resourceId: id, details: { keyId: row.keyId, boundAccountId: row.boundAccountId } }, manager);
    });
  }
}
