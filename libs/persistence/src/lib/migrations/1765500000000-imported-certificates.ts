import { X509Certificate } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Certificates from elsewhere in the inventory (API.md section 8): no Signet CA issued them, so `ca_id` is
 * null for them, their serial is unique only among what Signet's CAs issued (two other CAs may share one),
 * and they keep the issuer's name and the chain they came with. Their fingerprint stays unique: a
 * certificate is in the inventory once.
 */
export class ImportedCertificates1765500000000 implements MigrationInterface {
  name = 'ImportedCertificates1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE certificates ALTER COLUMN ca_id DROP NOT NULL`);
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT certificates_serial_number_key`);
    await q.query(`CREATE UNIQUE INDEX certificates_serial_number_key ON certificates (serial_number) WHERE ca_id IS NOT NULL`);
    // A certificate from elsewhere is in an org's inventory once; two orgs may both hold it (and learn nothing of each other).
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT certificates_fingerprint_sha256_key`);
    await q.query(`CREATE UNIQUE INDEX certificates_fingerprint_sha256_key ON certificates (fingerprint_sha256) WHERE ca_id IS NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX certificates_org_fingerprint_key ON certificates (org_id, fingerprint_sha256)`);
    await q.query(`ALTER TABLE certificates ADD COLUMN issuer_dn text, ADD COLUMN chain_pem text`);
    // Every certificate names its issuer: for those Signet issued, their CA's subject, most specific RDN
    // first as libs/pki formatName writes it for new ones (node:crypto here: migrations load no app libs).
    const cas: { id: string; certificate_der: Buffer }[] = await q.query(`SELECT id, certificate_der FROM cas`);
    for (const ca of cas) {
      const name = new X509Certificate(ca.certificate_der).subject.split('\n').reverse().join(',');
      await q.query(`UPDATE certificates SET issuer_dn = $2 WHERE ca_id = $1`, [ca.id, name]);
    }
    await q.query(`ALTER TABLE certificates ADD CONSTRAINT certificates_issued_by_a_ca CHECK ((ca_id IS NULL) = (source IN ('imported', 'external-acme', 'discovered')))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM certificates WHERE ca_id IS NULL`);
    await q.query(`ALTER TABLE certificates DROP CONSTRAINT certificates_issued_by_a_ca`);
    await q.query(`ALTER TABLE certificates DROP COLUMN issuer_dn, DROP COLUMN chain_pem`);
    await q.query(`DROP INDEX certificates_org_fingerprint_key`);
    await q.query(`DROP INDEX certificates_fingerprint_sha256_key`);
    await q.query(`ALTER TABLE certificates ADD CONSTRAINT certificates_fingerprint_sha256_key UNIQUE (fingerprint_sha256)`);
    await q.query(`DROP INDEX certificates_serial_number_key`);
    await q.query(`ALTER TABLE certificates ADD CONSTRAINT certificates_serial_number_key UNIQUE (serial_number)`);
    await q.query(`ALTER TABLE certificates ALTER COLUMN ca_id SET NOT NULL`);
  }
}
