import { createHash, X509Certificate } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 18 hardening.
 *
 * - `compromised_keys`: per org, the SHA-256 of the SubjectPublicKeyInfo (as OpenSSL re-encodes it) of
 *   every key a certificate was revoked for with reason keyCompromise; issuance refuses CSRs for them.
 *   Filled by the signer's revocation from now on, and here from the certificates already revoked so.
 * - `api_keys_created_by_idx`: the walk from a revoked platform key to the platform keys it minted.
 */
export class CompromisedKeys1764600000000 implements MigrationInterface {
  name = 'CompromisedKeys1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE compromised_keys (
        org_id uuid NOT NULL REFERENCES orgs(id),
        spki_sha256 bytea NOT NULL CHECK (length(spki_sha256) = 32),
        certificate_id uuid NOT NULL REFERENCES certificates(id),
        revoked_at timestamptz NOT NULL,
        PRIMARY KEY (org_id, spki_sha256)
      )`);
    const revoked: { id: string; org_id: string; certificate_der: Buffer; revoked_at: Date }[] = await q.query(
      `SELECT id, org_id, certificate_der, revoked_at FROM certificates WHERE status = 'revoked' AND revocation_reason = 'keyCompromise' ORDER BY revoked_at`,
    );
    for (const row of revoked) {
      const spki = new X509Certificate(row.certificate_der).publicKey.export({ type: 'spki', format: 'der' });
      await q.query(
        `INSERT INTO compromised_keys (org_id, spki_sha256, certificate_id, revoked_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [row.org_id, createHash('sha256').update(spki).digest(), row.id, row.revoked_at ?? new Date()],
      );
    }
    await q.query(`CREATE INDEX api_keys_created_by_idx ON api_keys (created_by_key_id) WHERE created_by_key_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX api_keys_created_by_idx`);
    await q.query(`DROP TABLE compromised_keys`);
  }
}
