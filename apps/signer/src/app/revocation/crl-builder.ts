/**
 * Build, sign and store a CA's full CRL. Builders of one CA take turns (a transaction-scoped advisory
 * lock), so CRL numbers never interleave across signers: each build reads the last number under the
 * lock, signs number + 1, and commits both the number and the CRL before the next builder may start.
 *
 * The revoked serials stream from PostgreSQL in keyset pages straight into the signing lib's encoder:
 * a million revoked certificates cost the CRL's bytes, not a million row objects.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caById, lastCrlNumber, lockCrlBuilds, revokedEntries, storeCrl } from '@signet/persistence';
import { buildCrl } from '@signet/pki';
import { DataSource } from 'typeorm';
import { CaKeyring } from '../keys/ca-keyring';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { crlBuildDuration } from '../signer-metrics';

/** Revoked serials read per round trip while the CRL streams. */
const PAGE = 20_000;

export interface BuiltCrlInfo {
  caId: string;
  crlNumber: string;
  revokedCount: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

@Injectable()
export class CrlBuilder {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    private readonly keyring: CaKeyring,
  ) {}

  /**
   * A new CA publishes its (empty) CRL before its creation is answered, so its distribution point answers
   * from the first moment a certificate can name it (built here, in the creating job: a queued build left
   * a window in which the CDP was 404). A passphrase CA's needs the passphrase the job holds anyway.
   */
  async first(caId: string, passphrase?: string): Promise<void> {
    await this.build(caId, passphrase);
  }

  /**
   * Skipped when the CA is gone, or is passphrase-protected and no passphrase came with the call (a
   * queued build never carries one: such CAs' CRLs are built by the jobs that hold the passphrase).
   */
  async build(caId: string, passphrase?: string): Promise<BuiltCrlInfo | { skipped: string }> {
    const ca = await caById(this.dataSource.manager, caId);
    if (!ca) return { skipped: 'no such certificate authority' };
    if (ca.hasPassphrase && !passphrase) return { skipped: 'passphrase-protected certificate authority' };
    const issuer = await this.keyring.issuer(ca, passphrase);
    const ended = crlBuildDuration.startTimer();
    return this.dataSource.transaction(async (manager) => {
      await lockCrlBuilds(manager, caId);
      const crlNumber = (await lastCrlNumber(manager, caId)) + 1n;
      const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + this.config.CRL_VALIDITY_SECONDS * 1000);
      const crl = await buildCrl({ issuer, crlNumber, thisUpdate, nextUpdate, entries: revokedEntries(manager, caId, thisUpdate, PAGE) });
      await storeCrl(manager, { caId, crlNumber, thisUpdate, nextUpdate, revokedCount: crl.revokedCount, der: crl.der });
      return { caId, crlNumber: crlNumber.toString(), revokedCount: crl.revokedCount, thisUpdate, nextUpdate };
    }).finally(() => void ended());
  }
}
