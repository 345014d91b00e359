/**
 * Build, sign and store a CA's CRLs: its full CRL and, for a CA with crlShards > 1, one CRL per shard
 * (RFC 5280 5.2.5: each names its distribution point in a critical IssuingDistributionPoint, byte for
 * byte as the certificates' CRLDistributionPoints do, and has its own CRL number). Builders of one CRL
 * take turns (a transaction-scoped advisory lock), so its numbers never interleave across signers: each
 * build reads the last number under the lock, signs number + 1, and commits both the number and the CRL
 * before the next builder may start.
 *
 * The revoked serials stream from PostgreSQL in keyset pages, each page aggregated into one string, straight
 * into the signing lib's encoder, which writes them once into the buffer the CRL is cut from: a million
 * revoked certificates cost the CRL's bytes, not a million row objects.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CrlShard, caById, crlShardsWithoutCrl, lastCrlNumber, lockCrlBuilds, revokedEntryPages, storeCrl } from '@signet/persistence';
import { REVOCATION_REASONS, buildCrl } from '@signet/pki';
import { crlUrl } from '@signet/queue';
import { DataSource } from 'typeorm';
import { CaKeyring } from '../keys/ca-keyring';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { crlBuildDuration } from '../signer-metrics';

/** Revoked serials read per round trip while the CRL streams. */
const PAGE = 20_000;

export interface BuiltCrlInfo {
  caId: string;
  shard: number | null;
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
   * A new CA publishes its (empty) CRLs, the full one and every shard's, before its creation is answered,
   * so each distribution point answers from the first moment a certificate can name it (built here, in the
   * creating job: a queued build left a window in which the CDP was 404). A passphrase CA's needs the
   * passphrase the job holds anyway.
   */
  async first(caId: string, passphrase?: string): Promise<void> {
    await this.build(caId, passphrase);
    await this.newShards(caId, passphrase);
  }

  /** The first CRL of each of the CA's shards that has none yet (a new CA's, or a raised crlShards'). */
  async newShards(caId: string, passphrase?: string): Promise<number[]> {
    const ca = await caById(this.dataSource.manager, caId);
    if (!ca) return [];
    const missing = await crlShardsWithoutCrl(this.dataSource.manager, caId, ca.crlShards);
    for (const shard of missing) await this.build(caId, passphrase, shard);
    return missing;
  }

  /**
   * The full CRL (`shard` null) or one shard's. Skipped when the CA is gone, or is passphrase-protected
   * and no passphrase came with the call (a queued build never carries one: such CAs' CRLs are built by
   * the jobs that hold the passphrase).
   */
  async build(caId: string, passphrase?: string, shard: CrlShard = null): Promise<BuiltCrlInfo | { skipped: string }> {
    const ca = await caById(this.dataSource.manager, caId);
    if (!ca) return { skipped: 'no such certificate authority' };
    if (ca.hasPassphrase && !passphrase) return { skipped: 'passphrase-protected certificate authority' };
    const issuer = await this.keyring.issuer(ca, passphrase);
    const ended = crlBuildDuration.startTimer();
    return this.dataSource.transaction(async (manager) => {
      await lockCrlBuilds(manager, caId, shard);
      const last = await lastCrlNumber(manager, caId, shard);
      const crlNumber = last.crlNumber + 1n;
      const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + this.config.CRL_VALIDITY_SECONDS * 1000);
      const crl = await buildCrl({
        issuer, crlNumber, thisUpdate, nextUpdate,
        entries: revokedEntryPages(manager, caId, thisUpdate, PAGE, REVOCATION_REASONS, shard),
        // Shards list leaves only: intermediates name the full CRL in their distribution point.
        scope: shard === null ? undefined : { url: crlUrl(this.config.PUBLIC_BASE_URL, caId, shard), onlyContainsUserCerts: true },
        expectedEntries: last.revokedCount,
      });
      await storeCrl(manager, { caId, shard, crlNumber, thisUpdate, nextUpdate, revokedCount: crl.revokedCount, der: crl.der });
      return { caId, shard, crlNumber: crlNumber.toString(), revokedCount: crl.revokedCount, thisUpdate, nextUpdate };
    }).finally(() => void ended());
  }
}
