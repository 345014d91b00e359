import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ACME server (API.md section 7, RFC 8555): accounts, orders, authorizations and challenges per
 * profile, external account binding keys (their HMAC keys sealed under MASTER_KEY by the signer), the
 * profile's `acme_eab_required`, and on certificates the `source` they came from and the ACME account
 * that ordered them.
 */
export class Acme1765200000000 implements MigrationInterface {
  name = 'Acme1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE profiles ADD COLUMN acme_eab_required boolean NOT NULL DEFAULT true`);
    await q.query(`ALTER TABLE certificates ADD COLUMN source text NOT NULL DEFAULT 'issued', ADD COLUMN acme_account_id uuid`);
    // An ACME account is an actor of audit events (its orders, finalizations, revocations).
    await q.query(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check,
                   ADD CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('apiKey', 'device', 'system', 'acmeAccount'))`);
    await q.query(`
      CREATE TABLE acme_eab_keys (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        profile_id uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        key_id text NOT NULL UNIQUE,
        name text,
        encrypted_key bytea NOT NULL,
        bound_account_id uuid,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX acme_eab_keys_org ON acme_eab_keys (org_id, created_at)`);
    await q.query(`
      CREATE TABLE acme_accounts (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        profile_id uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
        jwk jsonb NOT NULL,
        jwk_thumbprint text NOT NULL,
        status text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'deactivated', 'revoked')),
        contact text[] NOT NULL DEFAULT '{}',
        eab_key_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (profile_id, jwk_thumbprint)
      )`);
    await q.query(`
      CREATE TABLE acme_orders (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
        identifiers jsonb NOT NULL,
        not_before timestamptz,
        not_after timestamptz,
        expires timestamptz NOT NULL,
        error jsonb,
        certificate_id uuid,
        replaces_certificate_id uuid,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at)`);
    await q.query(`CREATE UNIQUE INDEX acme_orders_replaces ON acme_orders (replaces_certificate_id) WHERE replaces_certificate_id IS NOT NULL AND status <> 'invalid'`);
    await q.query(`
      CREATE TABLE acme_authorizations (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
        identifier_type text NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
        identifier_value text NOT NULL,
        wildcard boolean NOT NULL DEFAULT false,
        status text NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
        expires timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX acme_authorizations_reuse ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard) WHERE status = 'valid'`);
    await q.query(`
      CREATE TABLE acme_order_authorizations (
        order_id uuid NOT NULL REFERENCES acme_orders(id) ON DELETE CASCADE,
        authorization_id uuid NOT NULL REFERENCES acme_authorizations(id) ON DELETE CASCADE,
        position int NOT NULL,
        PRIMARY KEY (order_id, authorization_id)
      )`);
    await q.query(`CREATE INDEX acme_order_authorizations_authz ON acme_order_authorizations (authorization_id)`);
    await q.query(`
      CREATE TABLE acme_challenges (
        id uuid PRIMARY KEY,
        authorization_id uuid NOT NULL REFERENCES acme_authorizations(id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
        token text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        validated timestamptz,
        error jsonb,
        UNIQUE (authorization_id, type)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE acme_challenges, acme_order_authorizations, acme_authorizations, acme_orders, acme_accounts, acme_eab_keys`);
    await q.query(`ALTER TABLE certificates DROP COLUMN source, DROP COLUMN acme_account_id`);
    await q.query(`DELETE FROM audit_events WHERE actor_type = 'acmeAccount'`);
    await q.query(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check,
                   ADD CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('apiKey', 'device', 'system'))`);
    await q.query(`ALTER TABLE profiles DROP COLUMN acme_eab_required`);
  }
}
