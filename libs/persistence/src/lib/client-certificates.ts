/**
 * What the database says of client certificates presented on 8443: status, and whether enrollment issued
 * them (a certificate row), or the status of a CA's own certificate presented as a client certificate.
 */
import type { EntityManager } from 'typeorm';

export interface ClientCertificateState {
  status: string;
  enrolled: boolean;
}

/** By SHA-256 fingerprint; a revoked row wins over an active one with the same fingerprint. One query. */
export async function clientCertificateStates(manager: EntityManager, fingerprints: string[]): Promise<Map<string, ClientCertificateState>> {
  const rows: { fingerprint_sha256: string; status: string; enrolled: boolean }[] = await manager.query(
    `SELECT fingerprint_sha256, status, enrolled FROM certificates WHERE fingerprint_sha256 = ANY($1::text[]) AND ca_id IS NOT NULL
     UNION ALL SELECT fingerprint_sha256, status, false FROM cas WHERE fingerprint_sha256 = ANY($1::text[])`,
    [[...new Set(fingerprints)]],
  );
  const byFingerprint = new Map<string, ClientCertificateState>();
  for (const row of rows) {
    if (byFingerprint.get(row.fingerprint_sha256)?.status !== 'revoked') byFingerprint.set(row.fingerprint_sha256, { status: row.status, enrolled: row.enrolled === true });
  }
  return byFingerprint;
}
