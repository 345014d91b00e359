import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Obtaining from outside ACME CAs (API.md section 8): an org's accounts there (the account key kept
 * encrypted by the gateway), DNS provider credentials (encrypted the same way, referenced by the orders
 * and renewals that use them, never copied), the orders, which run as jobs on the gateways, and on each
 * certificate how it is renewed through an outside account (`external_acme_*`: set for what an order
 * obtained, and for an import given `renewWith: {acmeAccountId}`).
 */
export class ExternalAcme1765600000000 implements MigrationInterface {
  name = 'ExternalAcme1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE external_acme_accounts (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        directory_url text NOT NULL,
        staging_directory_url text,
        email text NOT NULL,
        eab_key_id text,
        account_url text NOT NULL,
        staging_account_url text,
        key_algorithm text NOT NULL,
        encrypted_account_key bytea NOT NULL,
        status text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'deactivated')),
        created_at timestamptz NOT NULL DEFAULT now(),
        deactivated_at timestamptz
      )`);
    await q.query(`CREATE INDEX external_acme_accounts_org ON external_acme_accounts (org_id, created_at)`);
    await q.query(`
      CREATE TABLE external_acme_dns_credentials (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        provider_type text NOT NULL,
        encrypted_config bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE external_acme_orders (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        account_id uuid NOT NULL REFERENCES external_acme_accounts(id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        domains text[] NOT NULL,
        challenge_type text NOT NULL CHECK (challenge_type IN ('http-01', 'dns-01')),
        dns_credentials_id uuid REFERENCES external_acme_dns_credentials(id),
        key_algorithm text NOT NULL,
        auto_renew boolean NOT NULL,
        renewal_threshold_days int NOT NULL,
        dry_run boolean NOT NULL DEFAULT false,
        renews_certificate_id uuid REFERENCES certificates(id) ON DELETE SET NULL,
        certificate_id uuid REFERENCES certificates(id) ON DELETE SET NULL,
        order_url text,
        error jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((challenge_type = 'dns-01') = (dns_credentials_id IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX external_acme_orders_org ON external_acme_orders (org_id, created_at)`);
    // One renewal of a certificate at a time: the sweep and a person asking find the running one.
    await q.query(`CREATE UNIQUE INDEX external_acme_orders_open_renewal ON external_acme_orders (renews_certificate_id) WHERE status IN ('pending', 'processing')`);
    await q.query(`
      ALTER TABLE certificates
        ADD COLUMN external_acme_account_id uuid REFERENCES external_acme_accounts(id),
        ADD COLUMN external_acme_challenge_type text CHECK (external_acme_challenge_type IN ('http-01', 'dns-01')),
        ADD COLUMN external_acme_dns_credentials_id uuid REFERENCES external_acme_dns_credentials(id),
        ADD CONSTRAINT certificates_external_acme_renewal CHECK (
          (external_acme_account_id IS NULL) = (external_acme_challenge_type IS NULL)
          AND (external_acme_dns_credentials_id IS NOT NULL) = (external_acme_challenge_type IS NOT DISTINCT FROM 'dns-01')
        )`);
    // Certificates from elsewhere now form renewal chains and may be deleted (DELETE /certificates/:id):
    // the links of their neighbours go, not the deletion.
    await q.query(`
      ALTER TABLE certificates
        DROP CONSTRAINT certificates_renewed_from_id_fkey,
        DROP CONSTRAINT certificates_superseded_by_id_fkey,
        ADD CONSTRAINT certificates_renewed_from_id_fkey FOREIGN KEY (renewed_from_id) REFERENCES certificates(id) ON DELETE SET NULL,
        ADD CONSTRAINT certificates_superseded_by_id_fkey FOREIGN KEY (superseded_by_id) REFERENCES certificates(id) ON DELETE SET NULL`);
    await q.query(`CREATE INDEX certificates_external_acme_renewable ON certificates (valid_to) WHERE external_acme_account_id IS NOT NULL AND auto_renew AND status = 'active' AND superseded_by_id IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificates
        DROP CONSTRAINT certificates_renewed_from_id_fkey,
        DROP CONSTRAINT certificates_superseded_by_id_fkey,
        ADD CONSTRAINT certificates_renewed_from_id_fkey FOREIGN KEY (renewed_from_id) REFERENCES certificates(id),
        ADD CONSTRAINT certificates_superseded_by_id_fkey FOREIGN KEY (superseded_by_id) REFERENCES certificates(id)`);
    await q.query(`DROP INDEX certificates_external_acme_renewable`);
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT certificates_external_acme_renewal`);
    await q.query(`ALTER TABLE certificates DROP COLUMN external_acme_account_id, DROP COLUMN external_acme_challenge_type, DROP COLUMN external_acme_dns_credentials_id`);
    await q.query(`DROP TABLE external_acme_orders`);
    await q.query(`DROP TABLE external_acme_dns_credentials`);
    await q.query(`DROP TABLE external_acme_accounts`);
  }
}
