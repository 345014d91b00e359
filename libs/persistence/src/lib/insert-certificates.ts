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
 * What the database decides of a new row: the columns an insert may leave to their defaults, and the
 * subject as jsonb keeps it (its own key order, which a later read answers with).
 */
type Filled = Pick<
  CertificateEntity,
  | 'subject' | 'status' | 'revokedAt' | 'revocationReason' | 'revocationComments' | 'supersededById' | 'renewalStatus' | 'renewalLastAttemptAt'
  | 'renewalLastError' | 'renewalNextAttemptAt' | 'createdAt' | 'profileId' | 'environment' | 'source' | 'issuerDn' | 'acmeAccountId'
>;

const FILLED: [string, keyof Filled][] = [
  ['subject', 'subject'],
  ['status', 'status'],
  ['revoked_at', 'revokedAt'],
  ['revocation_reason', 'revocationReason'],
  ['revocation_comments', 'revocationComments'],
  ['superseded_by_id', 'supersededById'],
  ['renewal_status', 'renewalStatus'],
  ['renewal_last_attempt_at', 'renewalLastAttemptAt'],
  ['renewal_last_error', 'renewalLastError'],
  ['renewal_next_attempt_at', 'renewalNextAttemptAt'],
  ['created_at', 'createdAt'],
  ['profile_id', 'profileId'],
  ['environment', 'environment'],
  ['source', 'source'],
  ['issuer_dn', 'issuerDn'],
  ['acme_account_id', 'acmeAccountId'],
];

/** A row as inserted, with what the database filled in: the certificate as stored, without reading it back. */
export type InsertedCertificate = CertificateInsert & Filled;

/**
 * Insert issued certificates in one statement (inside `manager`'s transaction), answering each row as
 * stored (RETURNING what the database filled in, so the issuer can answer without reading it back).
 * Plain SQL rather than the ORM's insert builder: on the issuance path the builder's per-value escaping
 * cost more CPU than the database did.
 */
export async function insertCertificates(manager: EntityManager, rows: CertificateInsert[]): Promise<InsertedCertificate[]> {
  if (!rows.length) return [];
  const params: unknown[] = [];
  const values = rows.map((row) => `(${COLUMNS.map(([, value]) => `$${params.push(value(row))}`).join(', ')})`);
  const returned: Record<string, unknown>[] = await manager.query(
    `INSERT INTO certificates (${COLUMNS.map(([name]) => name).join(', ')}) VALUES ${values.join(', ')} RETURNING id, ${FILLED.map(([name]) => name).join(', ')}`,
    params,
  );
  const byId = new Map(returned.map((r) => [r.id as string, r]));
  return rows.map((row) => {
    const stored = byId.get(row.id);
    if (!stored) throw new Error(`certificate ${row.id} was inserted but not returned`);
    const filled = Object.fromEntries(FILLED.map(([column, field]) => [field, stored[column]])) as unknown as Filled;
    return { ...row, ...filled };
  });
}

/** Certificates by id, one query. */
export async function certificatesById(manager: EntityManager, ids: string[]): Promise<Map<string, CertificateEntity>> {
  const rows = await manager.getRepository(CertificateEntity).findBy({ id: In(ids) });
  return new Map(rows.map((row) => [row.id, row]));
}
