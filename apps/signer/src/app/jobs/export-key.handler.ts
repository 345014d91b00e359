/**
 * `certificate.key`: hand out a stored private key (managed issuance with storeKey). The key is opened
 * here and leaves only sealed to the producer's one-time key; every hand-out is an audit event.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { insertAuditEvents, storedKeyOf } from '@signet/persistence';
import { decryptPrivateKey, exportPrivateKeyPem } from '@signet/pki';
import { ExportKeyJob, ExportKeyResult, seal } from '@signet/queue';
import { DataSource } from 'typeorm';
import { refuse } from '../job-failure';
import { auditActor } from './audit-actor';
import { CaKeyring } from '../keys/ca-keyring';

@Injectable()
export class ExportKeyHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
  ) {}

  async handle(job: ExportKeyJob): Promise<ExportKeyResult> {
    const row = await storedKeyOf(this.dataSource.manager, job.certificateId, job.orgId);
    if (!row?.encryptedKey) throw refuse('not_found', 'stored private key not found');
    const key = await decryptPrivateKey(row.encryptedKey, this.keyring.master).catch(() => {
      throw refuse('internal', 'the stored key cannot be decrypted with this MASTER_KEY');
    });
    await insertAuditEvents(this.dataSource.manager, [{
      orgId: job.orgId, eventType: 'certificate.key_export', outcome: 'success',
      ...auditActor(job.actor),
      resourceType: 'certificate', resourceId: row.id, details: { serialNumber: row.serialNumber },
    }]);
    return { sealedPrivateKey: seal(exportPrivateKeyPem(key), job.recipientKey) };
  }
}
