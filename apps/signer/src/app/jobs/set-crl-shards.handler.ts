/**
 * `ca.crlShards`: how many CRL shards the CA's new leaves are spread over. The count and its audit event
 * are stored in one transaction; then every shard that has no CRL yet gets its first one before the job
 * completes, so a leaf issued the moment the change is answered names a distribution point that answers.
 * Leaves already issued keep the shard their CDP names (certificates.crl_shard), and shards that a lower
 * count no longer hands out stay published and refreshed (crlShardsDue). Setting the count it already
 * has changes nothing and records nothing (a retried job).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caInOrg, insertAuditEvents, lockedCa, setCrlShards } from '@signet/persistence';
import { CreateCaResult, SetCrlShardsJob } from '@signet/queue';
import { DataSource } from 'typeorm';
import { refuse } from '../job-failure';
import { CaKeyring } from '../keys/ca-keyring';
import { CrlBuilder } from '../revocation/crl-builder';
import { auditActor } from './audit-actor';

@Injectable()
export class SetCrlShardsHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly crls: CrlBuilder,
  ) {}

  async handle(job: SetCrlShardsJob): Promise<CreateCaResult> {
    const ca = await caInOrg(this.dataSource.manager, job.caId, job.orgId);
    if (!ca) throw refuse('not_found', 'certificate authority not found');
    const passphrase = this.keyring.openPassphrase(job.sealedCaPassphrase, ca.id);
    // New shards are signed below: a passphrase CA's key must open before anything changes.
    if (ca.hasPassphrase && job.crlShards > 1) await this.keyring.issuer(ca, passphrase);
    await this.dataSource.transaction(async (manager) => {
      const locked = (await lockedCa(manager, ca.id))!;
      if (locked.crlShards === job.crlShards) return;
      await setCrlShards(manager, ca.id, job.crlShards);
      await insertAuditEvents(manager, [{
        orgId: job.orgId, eventType: 'ca.update', outcome: 'success', ...auditActor(job.actor),
        resourceType: 'ca', resourceId: ca.id, details: { crlShards: job.crlShards, previousCrlShards: locked.crlShards },
      }]);
    });
    await this.crls.newShards(ca.id, passphrase);
    return { caId: ca.id };
  }
}
