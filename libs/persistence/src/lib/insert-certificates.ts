import { EntityManager, In } from 'typeorm';
import { CertificateEntity } from './entities';

/** What an issuance stores; the rest of the row (timestamps, revocation, supersededById) takes its defaults. */
export type CertificateInsert = Pick<
  CertificateEntity,
  | 'id' | 'orgId' | 'caId' | 'serialNumber' | 'fingerprintSha256' | 'commonName' | 'subject' | 'sanDns' | 'sanIp' | 'sanEmail'
  | 'sanUri' | 'keyAlgorithm' | 'usage' | 'extendedKeyUsage' | 'mode' | 'validFrom' | 'validTo' | 'autoRenew'
  | 'renewalThresholdDays' | 'certificateDer' | 'csrDer' | 'encryptedKey' | 'notes' | 'issuanceKey' | 'renewedFromId'
> & Partial<Pick<CertificateEntity, 'profileId' | 'environment' | 'enrolled' | 'source' | 'acmeAccountId' | 'issuerDn' | 'chainPem' | 'crlShard'>>;

const COLUMNS: [string, (c: CertificateInsert) => unknown][] = [
  ['id', (c) => c.id],
  ['org_id', (c) => c.orgId],
  ['ca_id', (c) => c.caId],
  ['serial_number', (c) => c.serialNumber],
  ['fingerprint_sha256', (c) => c.fingerprintSha256],
  ['common_name', (c) => c.commonName],
  ['subject', (c) => JSON.stringify(c.subject)],
  ['san_dns', (c) => c.sanDns],
  ['san_ip', (c) => c.sanIp],
  ['san_email', (c) => c.sanEmail],
  ['san_uri', (c) => c.sanUri],
  ['key_algorithm', (c) => c.keyAlgorithm],
  ['usage', (c) => c.usage],
  ['extended_key_usage', (c) => c.extendedKeyUsage],
  ['mode', (c) => c.mode],
  ['valid_from', (c) => c.validFrom],
  ['valid_to', (c) => c.validTo],
  ['auto_renew', (c) => c.autoRenew],
  ['renewal_threshold_days', (c) => c.renewalThresholdDays],
  ['certificate_der', (c) => c.certificateDer],
  ['csr_der', (c) => c.csrDer],
  ['encrypted_key', (c) => c.encryptedKey],
  ['notes', (c) => c.notes],
  ['issuance_key', (c) => c.issuanceKey],
  ['renewed_from_id', (c) => c.renewedFromId],
  ['profile_id', (c) => c.profileId ?? null],
  ['environment', (c) => c.environment ?? null],
  ['enrolled', (c) => c.enrolled ?? false],
  ['source', (c) => c.source ?? 'issued'],
  ['acme_account_id', (c) => c.acmeAccountId ?? null],
  ['issuer_dn', (c) => c.issuerDn ?? null],
  ['chain_pem', (c) => c.chainPem ?? null],
  ['crl_shard', (c) => c.crlShard ?? null],
];

/**
 * Insert issued certificates in one statement (inside `manager`'s transaction). Plain SQL rather than
 * the ORM's insert builder: on the issuance path the builder's per-value escaping cost more CPU than
 * the database did.
 */
export async function insertCertificates(manager: EntityManager, rows: CertificateInsert[]): Promise<void> {
  if (!rows.length) return;
  const params: unknown[] = [];
  const values = rows.map((row) => `(${COLUMNS.map(([, value]) => `$${params.push(value(row))}`).join(', ')})`);
  await manager.query(`INSERT INTO certificates (${COLUMNS.map(([name]) => name).join(', ')}) VALUES ${values.join(', ')}`, params);
}

/** Certificates by id, one query: what a producer reads back after a group of issuances. */
export async function certificatesById(manager: EntityManager, ids: string[]): Promise<Map<string, CertificateEntity>> {
  const rows = await manager.getRepository(CertificateEntity).findBy({ id: In(ids) });
  return new Map(rows.map((row) => [row.id, row]));
}
