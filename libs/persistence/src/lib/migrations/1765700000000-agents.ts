import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agents (API.md section 10): the org's agents (their key stored as API keys are, SHA-256 of the secret
 * only), what they found on their hosts (one row per agent, source and location; `imported` is not
 * stored but read from the org's inventory by fingerprint), the deployment targets set on certificates
 * (moved forward along the renewal line as certificates are renewed) and the deployments to agents.
 */
export class Agents1765700000000 implements MigrationInterface {
  name = 'Agents1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agents (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        name text NOT NULL,
        key_id text NOT NULL UNIQUE,
        secret_hash bytea NOT NULL,
        prefix text NOT NULL,
        hostname text,
        version text,
        targets jsonb NOT NULL DEFAULT '[]',
        last_scan jsonb,
        last_seen_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX agents_org ON agents (org_id, created_at)`);
    await q.query(`
      CREATE TABLE discovered_certificates (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        agent_id uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        source text NOT NULL CHECK (source IN ('filesystem', 'network')),
        location text NOT NULL,
        has_private_key boolean NOT NULL DEFAULT false,
        fingerprint_sha256 text NOT NULL,
        serial_number text NOT NULL,
        common_name text NOT NULL,
        subject_dn text NOT NULL,
        issuer_dn text NOT NULL,
        san_dns text[] NOT NULL DEFAULT '{}',
        san_ip text[] NOT NULL DEFAULT '{}',
        key_algorithm text NOT NULL,
        self_signed boolean NOT NULL DEFAULT false,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz NOT NULL,
        certificate_der bytea NOT NULL,
        chain_pem text,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (agent_id, source, location)
      )`);
    await q.query(`CREATE INDEX discovered_certificates_org ON discovered_certificates (org_id, valid_to)`);
    await q.query(`CREATE INDEX discovered_certificates_fingerprint ON discovered_certificates (org_id, fingerprint_sha256)`);
    await q.query(`
      CREATE TABLE certificate_deploy_targets (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        certificate_id uuid NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        agent_id uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        target text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (certificate_id, agent_id, target)
      )`);
    await q.query(`CREATE INDEX certificate_deploy_targets_agent ON certificate_deploy_targets (agent_id)`);
    await q.query(`
      CREATE TABLE deployments (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        certificate_id uuid NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        agent_id uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
        targets jsonb NOT NULL,
        trigger text NOT NULL CHECK (trigger IN ('manual', 'renewal')),
        requested_by jsonb NOT NULL,
        claimed_at timestamptz,
        claimed_by_session text,
        claims int NOT NULL DEFAULT 0,
        completed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX deployments_pending ON deployments (agent_id, created_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX deployments_certificate ON deployments (certificate_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE deployments`);
    await q.query(`DROP TABLE certificate_deploy_targets`);
    await q.query(`DROP TABLE discovered_certificates`);
    await q.query(`DROP TABLE agents`);
  }
}
