import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `certificates.enrolled`: issued to a device by enrollment on 8443 (what lets it re-enroll with that
 * certificate). Said by a column, set by the signer from the job's device actor, instead of a regular
 * expression over issuance keys; existing rows are marked from their `enroll-<uuid>` issuance keys.
 */
export class EnrolledCertificates1764800000000 implements MigrationInterface {
  name = 'EnrolledCertificates1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE certificates ADD COLUMN enrolled boolean NOT NULL DEFAULT false`);
    await q.query(
      `UPDATE certificates SET enrolled = true
        WHERE issuance_key ~ '^enroll-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE certificates DROP COLUMN enrolled`);
  }
}
