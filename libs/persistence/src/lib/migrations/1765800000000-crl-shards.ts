import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sharded CRLs (issue 17), as Let's Encrypt partitions its CRLs:
 *
 * - `cas.crl_shards`: how many shards the CA's leaves are spread over (1: no shards, every certificate
 *   names the full CRL). New leaves name shard `crlShardOf(serial, crl_shards)` in their CRL
 *   distribution point.
 * - `certificates.crl_shard`: the shard a leaf's distribution point names, kept with the row because
 *   `crl_shards` may change later and the certificate's CDP does not: it stays served. NULL: the leaf
 *   names the full CRL (issued unsharded, imported, or issued before this migration).
 * - `crl_shards` (the table): each shard's current CRL with its own CRL number sequence (RFC 5280
 *   5.2.3: per scope). The full CRL stays in `crls`, numbered by `cas.last_crl_number`.
 * - A covering partial index in shard order so a shard's CRL reads only its own revoked rows
 *   (index-only), not every revoked row of the CA. Built CONCURRENTLY: certificates stay writable.
 *
 * Adding a nullable column and a column with a constant default change no rows (PostgreSQL 11+).
 */
export class CrlShards1765800000000 implements MigrationInterface {
  name = 'CrlShards1765800000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE cas ADD COLUMN IF NOT EXISTS crl_shards smallint NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE cas DROP CONSTRAINT IF EXISTS cas_crl_shards_check`);
    await q.query(`ALTER TABLE cas ADD CONSTRAINT cas_crl_shards_check CHECK (crl_shards BETWEEN 1 AND 256)`);
    await q.query(`ALTER TABLE certificates ADD COLUMN IF NOT EXISTS crl_shard smallint`);
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_crl_shard_check`);
    await q.query(`ALTER TABLE certificates ADD CONSTRAINT certificates_crl_shard_check CHECK (crl_shard BETWEEN 0 AND 255) NOT VALID`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS crl_shards (
        ca_id uuid NOT NULL REFERENCES cas(id) ON DELETE CASCADE,
        shard smallint NOT NULL CHECK (shard BETWEEN 0 AND 255),
        crl_number bigint NOT NULL,
        this_update timestamptz NOT NULL,
        next_update timestamptz NOT NULL,
        revoked_count int NOT NULL,
        der bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ca_id, shard)
      )`);
    // As crls.der (migration 1764400000000): CRLs are random serials, compression costs CPU for little.
    await q.query(`ALTER TABLE crl_shards ALTER COLUMN der SET STORAGE EXTERNAL`);
    await q.query(`CREATE INDEX IF NOT EXISTS crl_shards_next_update_idx ON crl_shards (next_update)`);

    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_crl_shard_idx`);
    await q.query(
      `CREATE INDEX CONCURRENTLY certificates_crl_shard_idx ON certificates (ca_id, crl_shard, serial_number)
         INCLUDE (revoked_at, revocation_reason, valid_to) WHERE status = 'revoked' AND crl_shard IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS certificates_crl_shard_idx`);
    await q.query(`DROP TABLE IF EXISTS crl_shards`);
    await q.query(`ALTER TABLE certificates DROP COLUMN IF EXISTS crl_shard`);
    await q.query(`ALTER TABLE cas DROP COLUMN IF EXISTS crl_shards`);
  }
}
