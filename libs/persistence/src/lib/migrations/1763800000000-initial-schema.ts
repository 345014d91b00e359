import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema: every table API.md implies, with the indexes its list, search and expiry queries
 * use. Hand-written rather than generated so the indexes, checks and the audit trigger are deliberate.
 *
 * Check constraints hold the enumerations, so a bug in a service cannot store a status the API cannot
 * represent; foreign keys are RESTRICT by default because nothing in a CA is ever cascaded away.
 */
export class InitialSchema1763800000000 implements MigrationInterface {
  name = 'InitialSchema1763800000000';

  async up(q: QueryRunner): Promise<void> {
    // pgcrypto for gen_random_uuid() on PostgreSQL < 13; pg_trgm for case-insensitive substring search.
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
    await q.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);

    await q.query(`
      CREATE TABLE orgs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid REFERENCES orgs(id),
        key_id text NOT NULL UNIQUE,
        secret_hash bytea NOT NULL,
        name text NOT NULL,
        prefix text NOT NULL,
        role text NOT NULL CHECK (role IN ('platform', 'admin', 'member')),
        permissions jsonb NOT NULL DEFAULT '{}'::jsonb,
        expires_at timestamptz,
        revoked_at timestamptz,
        created_by_key_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((role = 'platform') = (org_id IS NULL))
      )`);
    await q.query(`CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at)`);

    await q.query(`
      CREATE TABLE cas (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        name text NOT NULL,
        type text NOT NULL CHECK (type IN ('root', 'intermediate')),
        parent_ca_id uuid REFERENCES cas(id),
        depth int NOT NULL CHECK (depth >= 0),
        path_length int CHECK (path_length >= 0),
        permitted_dns_domains text[] NOT NULL DEFAULT '{}',
        subject jsonb NOT NULL,
        common_name text NOT NULL,
        key_algorithm text NOT NULL,
        serial_number text NOT NULL,
        fingerprint_sha256 text NOT NULL UNIQUE,
        key_hash_sha1 bytea NOT NULL,
        certificate_der bytea NOT NULL,
        external_chain_pem text,
        encrypted_key bytea NOT NULL,
        has_passphrase boolean NOT NULL DEFAULT false,
        imported boolean NOT NULL DEFAULT false,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        revoked_at timestamptz,
        revocation_reason text,
        last_crl_number bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((type = 'root') = (parent_ca_id IS NULL) OR imported)
      )`);
    await q.query(`CREATE INDEX cas_org_parent_idx ON cas (org_id, parent_ca_id)`);
    await q.query(`CREATE INDEX cas_key_hash_idx ON cas (key_hash_sha1)`);

    await q.query(`
      CREATE TABLE certificates (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        ca_id uuid NOT NULL REFERENCES cas(id),
        serial_number text NOT NULL UNIQUE,
        fingerprint_sha256 text NOT NULL UNIQUE,
        common_name text NOT NULL,
        subject jsonb NOT NULL,
        san_dns text[] NOT NULL DEFAULT '{}',
        san_ip text[] NOT NULL DEFAULT '{}',
        san_email text[] NOT NULL DEFAULT '{}',
        san_uri text[] NOT NULL DEFAULT '{}',
        key_algorithm text NOT NULL,
        usage text NOT NULL,
        extended_key_usage text[] NOT NULL DEFAULT '{}',
        mode text NOT NULL CHECK (mode IN ('managed', 'csr')),
        valid_from timestamptz NOT NULL,
        valid_to timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        revoked_at timestamptz,
        revocation_reason text,
        revocation_comments text,
        auto_renew boolean NOT NULL DEFAULT false,
        renewal_threshold_days int NOT NULL DEFAULT 30 CHECK (renewal_threshold_days BETWEEN 1 AND 397),
        renewed_from_id uuid REFERENCES certificates(id),
        superseded_by_id uuid REFERENCES certificates(id),
        certificate_der bytea NOT NULL,
        csr_der bytea,
        encrypted_key bytea,
        notes text,
        issuance_key text UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
      )`);
    // The list endpoint always filters by org and sorts by one of validTo, commonName, createdAt.
    await q.query(`CREATE INDEX certificates_org_created_idx ON certificates (org_id, created_at, id)`);
    await q.query(`CREATE INDEX certificates_org_valid_to_idx ON certificates (org_id, valid_to, id)`);
    await q.query(`CREATE INDEX certificates_org_cn_idx ON certificates (org_id, lower(common_name), id)`);
    await q.query(`CREATE INDEX certificates_ca_created_idx ON certificates (ca_id, created_at, id)`);
    // search: case-insensitive substring on the common name and any DNS SAN.
    await q.query(`CREATE INDEX certificates_cn_trgm_idx ON certificates USING gin (lower(common_name) gin_trgm_ops)`);
    await q.query(`CREATE INDEX certificates_san_dns_idx ON certificates USING gin (san_dns)`);
    // CRL builds stream a CA's revoked serials; the renewal sweep scans what is due.
    await q.query(
      `CREATE INDEX certificates_revoked_idx ON certificates (ca_id, serial_number) WHERE status = 'revoked'`,
    );
    await q.query(
      `CREATE INDEX certificates_renewal_idx ON certificates (valid_to) WHERE auto_renew AND status = 'active' AND superseded_by_id IS NULL`,
    );

    await q.query(`
      CREATE TABLE audit_events (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        at timestamptz NOT NULL DEFAULT now(),
        org_id uuid,
        event_type text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failed', 'pending')),
        actor_type text NOT NULL CHECK (actor_type IN ('apiKey', 'device', 'system')),
        actor_id text,
        actor_name text,
        ip text,
        resource_type text,
        resource_id text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        error jsonb,
        duration_ms int
      )`);
    await q.query(`CREATE INDEX audit_events_org_seq_idx ON audit_events (org_id, seq DESC)`);
    await q.query(`CREATE INDEX audit_events_type_idx ON audit_events (event_type text_pattern_ops, seq DESC)`);
    await q.query(`CREATE INDEX audit_events_resource_idx ON audit_events (resource_id, seq DESC)`);
    await q.query(`CREATE INDEX audit_events_at_idx ON audit_events (at)`);
    // Append-only, enforced where no code path can get around it.
    await q.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);

    await q.query(`
      CREATE TABLE idempotency_records (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash text NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'completed')),
        response_status int,
        response_body jsonb,
        certificate_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        UNIQUE (org_id, key)
      )`);
    await q.query(`CREATE INDEX idempotency_records_expires_idx ON idempotency_records (expires_at)`);

    await q.query(`
      CREATE TABLE crls (
        ca_id uuid PRIMARY KEY REFERENCES cas(id),
        crl_number bigint NOT NULL,
        this_update timestamptz NOT NULL,
        next_update timestamptz NOT NULL,
        revoked_count int NOT NULL,
        der bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX crls_next_update_idx ON crls (next_update)`);

    await q.query(`
      CREATE TABLE ocsp_responses (
        serial_number text PRIMARY KEY,
        ca_id uuid NOT NULL REFERENCES cas(id),
        certificate_id uuid REFERENCES certificates(id),
        subject_ca_id uuid REFERENCES cas(id),
        status text NOT NULL CHECK (status IN ('good', 'revoked')),
        der bytea NOT NULL,
        this_update timestamptz NOT NULL,
        next_update timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((certificate_id IS NULL) <> (subject_ca_id IS NULL))
      )`);
    await q.query(`CREATE INDEX ocsp_responses_next_update_idx ON ocsp_responses (next_update)`);

    await q.query(`
      CREATE TABLE enrollment_policies (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        name text NOT NULL,
        trusted_ca_ids uuid[] NOT NULL CHECK (cardinality(trusted_ca_ids) >= 1),
        issuing_ca_id uuid NOT NULL REFERENCES cas(id),
        validity_days int NOT NULL DEFAULT 90 CHECK (validity_days BETWEEN 1 AND 397),
        usage text NOT NULL DEFAULT 'client',
        allowed_key_algorithms text[] NOT NULL DEFAULT '{}',
        subject_rule text NOT NULL DEFAULT 'match-client-cn' CHECK (subject_rule IN ('match-client-cn', 'any')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX enrollment_policies_org_idx ON enrollment_policies (org_id, created_at)`);
    await q.query(`CREATE INDEX enrollment_policies_trusted_idx ON enrollment_policies USING gin (trusted_ca_ids)`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Reverse dependency order. Extensions stay: other schemas of the database may use them.
    for (const table of [
      'enrollment_policies',
      'ocsp_responses',
      'crls',
      'idempotency_records',
      'audit_events',
      'certificates',
      'cas',
      'api_keys',
      'orgs',
    ]) {
      await q.query(`DROP TABLE ${table}`);
    }
    await q.query(`DROP FUNCTION audit_events_append_only()`);
  }
}
