/**
 * The certificate an issuance stored, across the queue (libs/queue `IssuedCertificate`): the signer makes
 * it from the row it inserted (with what the database filled in) or found already stored; the producers
 * turn it back into what certificateJson and the PEM are made of. The columns are certificateJson's
 * (CERTIFICATE_JSON_COLUMNS), so a column the answer needs is added in one place.
 */
import type { IssuedCertificate } from '@signet/queue';
import { CERTIFICATE_JSON_COLUMNS, CertificateJsonSource } from './certificate-json';
import type { CertificateEntity } from './entities';

/** A row as stored: read from the table, or just inserted (InsertedCertificate). */
export type StoredCertificate = CertificateJsonSource & Pick<CertificateEntity, 'orgId' | 'certificateDer' | 'encryptedKey'>;

/** What a producer holds of a certificate it had issued: the answer's columns, and whether a managed key is kept. */
export type IssuedRow = CertificateJsonSource & Pick<CertificateEntity, 'orgId' | 'certificateDer'> & { hasStoredKey: boolean };

/** The columns that are dates: ISO 8601 strings on the wire. */
const DATE_COLUMNS = ['validFrom', 'validTo', 'revokedAt', 'renewalLastAttemptAt', 'renewalNextAttemptAt', 'createdAt'] as const satisfies readonly (keyof CertificateJsonSource)[];

export function issuedCertificateOf(row: StoredCertificate): IssuedCertificate {
  const json: Record<string, unknown> = { orgId: row.orgId };
  for (const column of CERTIFICATE_JSON_COLUMNS) {
    const value = row[column];
    json[column] = value instanceof Date ? value.toISOString() : value ?? null;
  }
  return { ...(json as Omit<IssuedCertificate, 'hasStoredKey' | 'certificateDer'>), hasStoredKey: row.encryptedKey !== null, certificateDer: row.certificateDer.toString('base64') };
}

export function issuedRowOf(certificate: IssuedCertificate): IssuedRow {
  const row: Record<string, unknown> = { ...certificate, certificateDer: Buffer.from(certificate.certificateDer, 'base64') };
  for (const column of DATE_COLUMNS) row[column] = certificate[column] === null ? null : new Date(certificate[column] as string);
  return row as unknown as IssuedRow;
}
