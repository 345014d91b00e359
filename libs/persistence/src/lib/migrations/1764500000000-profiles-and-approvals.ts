import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Certificate profiles (API.md section 5) and four-eyes approvals (section 6).
 *
 * - `profiles`: the one home of issuance policy. Deleting one sets `deleted_at` (its certificates keep
 *   their `profile_id`; later issuance under it is 404), and frees its slug for a new profile.
 * - `certificates.profile_id` / `environment`: which profile a certificate was issued under (NULL: the
 *   CA's built-in default profile), indexed for `?profileId=`.
 * - `enrollment_policies.profile_id`: enrollment issues under that profile when set.
 * - `approvals`: a request waiting for a second person. `request` holds the issuance intent (never a
 *   private key: managed mode needs storeKey, the key is made once approved). A decision is one
 *   conditional UPDATE (status = 'pending'), so two approvers racing get one certificate.
 */
export class ProfilesAndApprovals1764500000000 implements MigrationInterface {
  name = 'ProfilesAndApprovals1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE profiles (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        ca_id uuid NOT NULL REFERENCES cas(id),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        slug text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
        description text,
        environment text,
        allowed_domains text[] NOT NULL DEFAULT '{}',
        allow_wildcards boolean NOT NULL DEFAULT true,
        allow_ip_sans boolean NOT NULL DEFAULT true,
        allowed_key_algorithms text[] NOT NULL DEFAULT '{}',
        default_validity_days int NOT NULL DEFAULT 90 CHECK (default_validity_days BETWEEN 1 AND 397),
        max_validity_days int NOT NULL DEFAULT 397 CHECK (max_validity_days BETWEEN 1 AND 397),
        usage text NOT NULL DEFAULT 'server',
        extended_key_usage text[],
        require_approval boolean NOT NULL DEFAULT false,
        approval_ttl_hours int NOT NULL DEFAULT 72 CHECK (approval_ttl_hours BETWEEN 1 AND 8760),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CHECK (default_validity_days <= max_validity_days)
      )`);
    await q.query(`CREATE UNIQUE INDEX profiles_org_slug_idx ON profiles (org_id, slug) WHERE deleted_at IS NULL`);
    await q.query(`ALTER TABLE certificates ADD COLUMN profile_id uuid REFERENCES profiles(id), ADD COLUMN environment text`);
    await q.query(`CREATE INDEX certificates_profile_idx ON certificates (profile_id) WHERE profile_id IS NOT NULL`);
    await q.query(`ALTER TABLE enrollment_policies ADD COLUMN profile_id uuid REFERENCES profiles(id)`);
    await q.query(`
      CREATE TABLE approvals (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        profile_id uuid NOT NULL REFERENCES profiles(id),
        ca_id uuid NOT NULL REFERENCES cas(id),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
        request jsonb NOT NULL,
        requested_by jsonb NOT NULL,
        decided_by jsonb,
        decided_at timestamptz,
        reason text,
        certificate_id uuid REFERENCES certificates(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX approvals_org_status_idx ON approvals (org_id, status, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE approvals`);
    await q.query(`ALTER TABLE enrollment_policies DROP COLUMN profile_id`);
    await q.query(`ALTER TABLE certificates DROP COLUMN environment, DROP COLUMN profile_id`);
    await q.query(`DROP TABLE profiles`);
  }
}
