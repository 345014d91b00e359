import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks (API.md section 9): an org's endpoints (the signing secret encrypted under the gateway's
 * WEBHOOK_SECRET_KEY), their deliveries (one per event and endpoint: UNIQUE (webhook_id, source_key)),
 * the dispatcher's place in the audit log (webhook_cursor, one row, starting at the newest event so an
 * upgrade sends no history), and the expiry notices already given (one per certificate and threshold).
 */
export class Webhooks1765300000000 implements MigrationInterface {
  name = 'Webhooks1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhooks (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        url text NOT NULL,
        events text[] NOT NULL,
        description text,
        encrypted_secret bytea NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhooks_org ON webhooks (org_id, created_at)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY,
        webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event text NOT NULL,
        payload jsonb NOT NULL,
        source_key text NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts int NOT NULL DEFAULT 0,
        last_status_code int,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        UNIQUE (webhook_id, source_key)
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id)`);
    // Deliveries never tried (a gateway died between the insert and the enqueue) are found here.
    await q.query(`CREATE INDEX webhook_deliveries_untried ON webhook_deliveries (created_at) WHERE status = 'pending' AND attempts = 0`);
    await q.query(`CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (created_at) WHERE status <> 'pending'`);
    await q.query(`
      CREATE TABLE webhook_cursor (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        last_seq bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`INSERT INTO webhook_cursor (last_seq) SELECT COALESCE(max(seq), 0) FROM audit_events`);
    await q.query(`
      CREATE TABLE certificate_expiry_notices (
        certificate_id uuid NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
        days_before int NOT NULL CHECK (days_before IN (0, 1, 7, 14, 30)),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (certificate_id, days_before)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE certificate_expiry_notices, webhook_cursor, webhook_deliveries, webhooks`);
  }
}
