import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A certificate from elsewhere renewed under a Signet profile (API.md section 8, `renewWith:
 * {profileId}`): `certificates.renew_profile_id` names the profile whose CA issues its renewal. Only a
 * certificate no Signet CA issued has one (a Signet certificate renews under its own CA and profile), and
 * never beside an outside ACME account (one way to renew). The partial index is the renewal sweep's way to
 * the few such certificates among millions, as certificates_external_acme_renewable is for outside ACME.
 *
 * A nullable column changes no rows; the constraint holds for every existing row (all NULL).
 */
export class RenewUnderProfile1766000000000 implements MigrationInterface {
  name = 'RenewUnderProfile1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificates
        ADD COLUMN renew_profile_id uuid REFERENCES profiles(id) ON DELETE SET NULL,
        ADD CONSTRAINT certificates_renew_under_profile CHECK (renew_profile_id IS NULL OR (ca_id IS NULL AND external_acme_account_id IS NULL))`);
    await q.query(`CREATE INDEX certificates_profile_renewable ON certificates (valid_to) WHERE renew_profile_id IS NOT NULL AND auto_renew AND status = 'active' AND superseded_by_id IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX certificates_profile_renewable`);
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT certificates_renew_under_profile, DROP COLUMN renew_profile_id`);
  }
}
