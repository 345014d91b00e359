/**
 * CA certificates the platform holds under a given subject, across every org: each CA's own certificate
 * and the external chain of imported ones (whose subjects are not indexed, so every imported chain is
 * read; there are few). For the check that no CA certificate can shadow another in a trust store.
 */
import type { EntityManager } from 'typeorm';

export interface CaCertificatesRow {
  id: string;
  orgId: string;
  certificateDer: Buffer;
  externalChainPem: string | null;
}

/** `subjects`: the subject records (as CA rows store them in `subject`) to look for. */
export async function caCertificatesUnderSubjects(manager: EntityManager, subjects: Record<string, string>[]): Promise<CaCertificatesRow[]> {
  const rows: { id: string; org_id: string; certificate_der: Buffer; external_chain_pem: string | null }[] = await manager.query(
    `SELECT id, org_id, certificate_der, external_chain_pem FROM cas
      WHERE subject = ANY($1::jsonb[]) OR external_chain_pem IS NOT NULL`,
    [subjects.map((s) => JSON.stringify(s))],
  );
  return rows.map((r) => ({ id: r.id, orgId: r.org_id, certificateDer: r.certificate_der, externalChainPem: r.external_chain_pem }));
}
