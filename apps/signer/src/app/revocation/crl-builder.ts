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
import { CertificateAuthorityEntity } from '@signet/persistence';
import { CrlEntry, RevocationReason, buildCrl } from '@signet/pki';
import { DataSource, EntityManager } from 'typeorm';
import { CaKeyring } from '../keys/ca-keyring';
import { SignerQueue } from './signer-queue';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';

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
    private readonly queue: SignerQueue,
  ) {}

  /**
   * A new CA publishes an (empty) CRL at once, so its distribution point answers from the start. A
   * passphrase CA's is built here, while the job holds the passphrase; others go through the queue.
   */
  async first(caId: string, passphrase?: string): Promise<void> {
    if (passphrase) await this.build(caId, passphrase);
    else await this.queue.buildCrlSoon(caId);
  }

  /**
   * Skipped when the CA is gone, or is passphrase-protected and no passphrase came with the call (a
   * queued build never carries one: such CAs' CRLs are built by the jobs that hold the passphrase).
   */
  async build(caId: string, passphrase?: string): Promise<BuiltCrlInfo | { skipped: string }> {
    const ca = await this.dataSource.getRepository(CertificateAuthorityEntity).findOneBy({ id: caId });
    if (!ca) return { skipped: 'no such certificate authority' };
    if (ca.hasPassphrase && !passphrase) return { skipped: 'passphrase-protected certificate authority' };
    const issuer = await this.keyring.issuer(ca, passphrase);
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtext('signet-crl:' || $1))`, [caId]);
      const [{ last_crl_number: last }] = await manager.query(`SELECT last_crl_number::text FROM cas WHERE id = $1`, [caId]);
      const crlNumber = BigInt(last) + 1n;
      const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + this.config.CRL_VALIDITY_SECONDS * 1000);
      const crl = await buildCrl({ issuer, crlNumber, thisUpdate, nextUpdate, entries: revokedEntries(manager, caId, thisUpdate) });
      await manager.query(`UPDATE cas SET last_crl_number = $2 WHERE id = $1`, [caId, crlNumber.toString()]);
      await manager.query(
        `INSERT INTO crls (ca_id, crl_number, this_update, next_update, revoked_count, der, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (ca_id) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
           next_update = excluded.next_update, revoked_count = excluded.revoked_count, der = excluded.der, updated_at = now()`,
        [caId, crlNumber.toString(), thisUpdate, nextUpdate, crl.revokedCount, crl.der],
      );
      return { caId, crlNumber: crlNumber.toString(), revokedCount: crl.revokedCount, thisUpdate, nextUpdate };
    });
  }
}

interface RevokedRow {
  s: string;
  at: Date;
  r: RevocationReason | null;
}

/**
 * The CA's revoked intermediates, then its revoked leaves that have not expired (an expired
 * certificate leaves the CRL, RFC 5280 3.3), a page at a time in serial order.
 */
async function* revokedEntries(manager: EntityManager, caId: string, now: Date): AsyncGenerator<CrlEntry[]> {
  const cas: RevokedRow[] = await manager.query(
    `SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM cas
      WHERE parent_ca_id = $1 AND status = 'revoked' AND valid_to > $2`,
    [caId, now],
  );
  if (cas.length) yield cas.map(entryOf);
  let after = '';
  for (;;) {
    const rows: RevokedRow[] = await manager.query(
      `SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
        WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND valid_to > $3
        ORDER BY serial_number LIMIT ${PAGE}`,
      [caId, after, now],
    );
    if (!rows.length) return;
    yield rows.map(entryOf);
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1].s;
  }
}

const entryOf = (row: RevokedRow): CrlEntry => ({ serialNumber: row.s, revokedAt: row.at, reason: row.r });
