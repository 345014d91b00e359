import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search at 5 million certificates (docs/BENCHMARKS.md, "Inventory at 5 million certificates"). The
 * list's `search` is a substring of the common name, any DNS SAN, the serial or fingerprint, or the
 * issuer's name, OR-ed together; one arm without an index made PostgreSQL read the whole table for every
 * search. Now each arm has a trigram index (pg_trgm, created by the first migration), so the arms are
 * bitmap index scans OR-ed together, and the exact conditions are checked on the rows they find:
 *
 * - certificates_names_trgm_idx: the common name (lowercased) and the DNS SANs as one text
 *   (certificate_names_text), replacing the common-name-only trigram index and the GIN index on the
 *   san_dns array, which no query used (search unnests the array, which no index serves).
 * - certificates_hex_trgm_idx: the serial (lowercased) and the fingerprint as one text.
 * - certificates_imported_issuer_trgm_idx: the issuer DN of certificates from elsewhere (no Signet CA),
 *   normalised as the search compares it.
 *
 * Safe on an install with millions of rows: the indexes are built CONCURRENTLY (outside a transaction:
 * certificates stay writable meanwhile), each after dropping a leftover invalid one of an interrupted run,
 * and the old ones are dropped only once the new ones exist. Every step can be re-run.
 */
export class InventorySearchIndexes1765900000000 implements MigrationInterface {
  name = 'InventorySearchIndexes1765900000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    // IMMUTABLE (array_to_string is STABLE only because of arrays of types whose output may change; text's never does).
    await q.query(`
      CREATE OR REPLACE FUNCTION certificate_names_text(common_name text, san_dns text[]) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT lower(common_name) || E'\\n' || array_to_string(san_dns, E'\\n') $$`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_names_trgm_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY certificates_names_trgm_idx ON certificates USING gin (certificate_names_text(common_name, san_dns) gin_trgm_ops)`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_hex_trgm_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY certificates_hex_trgm_idx ON certificates USING gin ((lower(serial_number) || ' ' || fingerprint_sha256) gin_trgm_ops)`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_imported_issuer_trgm_idx`);
    await q.query(
      `CREATE INDEX CONCURRENTLY certificates_imported_issuer_trgm_idx ON certificates
         USING gin ((${IMPORTED_ISSUER_SQL}) gin_trgm_ops) WHERE ca_id IS NULL`,
    );
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_cn_trgm_idx`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS certificates_san_dns_idx`);
    // Statistics of the new index expressions now, not at autovacuum's next analyze: without them the
    // planner guesses how many rows a search matches.
    await q.query(`ANALYZE certificates`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS certificates_cn_trgm_idx ON certificates USING gin (lower(common_name) gin_trgm_ops)`);
    await q.query(`CREATE INDEX IF NOT EXISTS certificates_san_dns_idx ON certificates USING gin (san_dns)`);
    await q.query(`DROP INDEX IF EXISTS certificates_imported_issuer_trgm_idx`);
    await q.query(`DROP INDEX IF EXISTS certificates_hex_trgm_idx`);
    await q.query(`DROP INDEX IF EXISTS certificates_names_trgm_idx`);
    await q.query(`DROP FUNCTION IF EXISTS certificate_names_text(text, text[])`);
  }
}

/**
 * The issuer DN as search compares it (lowercase, no spaces around `=` and `,`); certificate-lists.ts
 * uses this same text, so the index serves its query.
 */
export const IMPORTED_ISSUER_SQL = `replace(replace(replace(lower(issuer_dn), ', ', ','), ' = ', '='), ' =', '=')`;
