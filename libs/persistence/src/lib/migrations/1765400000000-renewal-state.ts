import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Renewal state on every certificate (API.md section 8): what the renewal sweep last did with it. The
 * status a client sees is derived from these and autoRenew (renewal-state.ts): `scheduled` is not stored.
 */
export class RenewalState1765400000000 implements MigrationInterface {
  name = 'RenewalState1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificates
        ADD COLUMN renewal_status text NOT NULL DEFAULT 'none' CHECK (renewal_status IN ('none', 'in_progress', 'failed')),
        ADD COLUMN renewal_last_attempt_at timestamptz,
        ADD COLUMN renewal_last_error text,
        ADD COLUMN renewal_next_attempt_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE certificates DROP COLUMN renewal_status, DROP COLUMN renewal_last_attempt_at, DROP COLUMN renewal_last_error, DROP COLUMN renewal_next_attempt_at`);
  }
}
