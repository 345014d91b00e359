import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Revocation at scale (docs/BENCHMARKS.md, "CRL for a CA with 1,000,000 revoked certificates"):
 *
 * - `crls.der` is stored uncompressed out of line (STORAGE EXTERNAL). A CRL is mostly random serials:
 *   pglz spent about 1.1 s of CPU on each 47 MB build to save 40%, and every gateway read paid for the
 *   decompression again. Chosen over `COMPRESSION lz4` (as fast to store, a third smaller on disk) since
 *   it needs no server built with lz4 and keeps reads free of decompression. It applies to CRLs stored
 *   from now on: each CA's row is rewritten at its next build.
 * - The CRL builder's keyset pages (`WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND
 *   valid_to > $3 ORDER BY serial_number`, reading serial_number, revoked_at, revocation_reason) become
 *   index-only scans: certificates_revoked_idx gains INCLUDE (revoked_at, revocation_reason, valid_to),
 *   so a page no longer fetches a heap row per certificate (in random heap order).
 * - The revocation sweep's "a revocation since the CRL was built" EXISTS (`ca_id = ? AND status =
 *   'revoked' AND revoked_at >= this_update AND revoked_at < ...`) gets an index on (ca_id, revoked_at)
 *   instead of walking every revoked row of each CA every minute.
 *
 * The indexes are built CONCURRENTLY (outside a transaction), so certificates stay writable meanwhile;
 * each step can be re-run after a failure. down() runs in a transaction, and builds the old index plainly.
 */
export class CrlStorageAndRevocationIndexes1764400000000 implements MigrationInterface {
  name = 'CrlStorageAndRevocationIndexes1764400000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTERNAL`);

    // An interrupted CONCURRENTLY build leaves an invalid index behind: start each one afresh.
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked_covering_idx`);
    await q.query(
      `CREATE INDEX CONCURRENTLY certificates_revoked_covering_idx ON certificates (ca_id, serial_number)
         INCLUDE (revoked_at, revocation_reason, valid_to) WHERE status = 'revoked'`,
    );
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked_idx`);
    await q.query(`ALTER INDEX certificates_revoked_covering_idx RENAME TO certificates_revoked_idx`);

    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked_at_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY certificates_revoked_at_idx ON certificates (ca_id, revoked_at) WHERE status = 'revoked'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS certificates_revoked_at_idx`);
    await q.query(`DROP INDEX IF EXISTS certificates_revoked_idx`);
    await q.query(`CREATE INDEX certificates_revoked_idx ON certificates (ca_id, serial_number) WHERE status = 'revoked'`);
    await q.query(`ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTENDED`);
  }
}
