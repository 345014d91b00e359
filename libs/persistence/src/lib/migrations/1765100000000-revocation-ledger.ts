import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `revocation_ledger`: which job committed each revocation (a leaf certificate or an intermediate CA),
 * written in the revocation's transaction; a retried revoke job reads it to tell its own earlier commit
 * from someone else's, instead of looking for its job id in audit event details. A subject is revoked
 * once, so it is the key. Filled here from the revocations' audit events that name their job, so a
 * job retried across the upgrade still finds its commit.
 */
export class RevocationLedger1765100000000 implements MigrationInterface {
  name = 'RevocationLedger1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE revocation_ledger (
        subject_kind text NOT NULL CHECK (subject_kind IN ('certificate', 'ca')),
        subject_id uuid NOT NULL,
        job_id text NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subject_kind, subject_id)
      )`);
    await q.query(`
      INSERT INTO revocation_ledger (subject_kind, subject_id, job_id, committed_at)
      SELECT CASE e.event_type WHEN 'certificate.revoke' THEN 'certificate' ELSE 'ca' END, e.resource_id::uuid, e.details->>'jobId', e.at
        FROM audit_events e
       WHERE e.event_type IN ('certificate.revoke', 'ca.revoke') AND e.outcome = 'success' AND e.details ? 'jobId'
         AND e.resource_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       ORDER BY e.seq
      ON CONFLICT DO NOTHING`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE revocation_ledger`);
  }
}
