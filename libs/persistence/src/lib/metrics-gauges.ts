/**
 * The queries behind the signer's periodic metrics collector (API.md section 12): one query per gauge
 * family, each grouped by CA (bounded cardinality: no serials, no certificate ids). Run on the
 * collector's interval, never per scrape or per request.
 */
import type { EntityManager } from 'typeorm';

/**
 * Per CA, seconds left until the nextUpdate of its stalest pre-signed OCSP response, among the responses
 * still needed (the subject has not expired) of CAs that have not expired. Negative: already stale.
 */
export async function stalestOcspSecondsByCa(manager: EntityManager): Promise<Map<string, number>> {
  const rows: { ca_id: string; seconds: string }[] = await manager.query(
    `SELECT o.ca_id, extract(epoch FROM min(o.next_update) - now()) AS seconds
       FROM ocsp_responses o
       JOIN cas ca ON ca.id = o.ca_id AND ca.valid_to > now()
       LEFT JOIN certificates c ON c.id = o.certificate_id
       LEFT JOIN cas sc ON sc.id = o.subject_ca_id
      WHERE coalesce(c.valid_to, sc.valid_to) > now()
      GROUP BY o.ca_id`,
  );
  return new Map(rows.map((r) => [r.ca_id, Number(r.seconds)]));
}

/**
 * Per unexpired CA with a CRL, seconds until the nextUpdate of its stalest CRL, the full one or any shard
 * (negative: past it): a shard left behind is what a relying party holding that shard's certificate sees.
 */
export async function crlNextUpdateSecondsByCa(manager: EntityManager): Promise<Map<string, number>> {
  const rows: { ca_id: string; seconds: string }[] = await manager.query(
    `SELECT c.ca_id, extract(epoch FROM min(c.next_update) - now()) AS seconds
       FROM (SELECT ca_id, next_update FROM crls UNION ALL SELECT ca_id, next_update FROM crl_shards) c
       JOIN cas ca ON ca.id = c.ca_id AND ca.valid_to > now()
      GROUP BY c.ca_id`,
  );
  return new Map(rows.map((r) => [r.ca_id, Number(r.seconds)]));
}

export interface ExpiringCount {
  caId: string;
  autoRenew: boolean;
  within7d: number;
  within30d: number;
}

/**
 * Active, unexpired, not yet renewed certificates whose validity ends within 7 and 30 days, per CA and
 * autoRenew (a certificate that is not renewed automatically needs someone).
 */
export async function expiringCertificatesByCa(manager: EntityManager): Promise<ExpiringCount[]> {
  const rows: { ca_id: string; auto_renew: boolean; d7: string; d30: string }[] = await manager.query(
    `SELECT coalesce(ca_id::text, 'none') AS ca_id, auto_renew,
            count(*) FILTER (WHERE valid_to < now() + interval '7 days') AS d7,
            count(*) AS d30
       FROM certificates
      WHERE status = 'active' AND superseded_by_id IS NULL AND valid_to > now() AND valid_to < now() + interval '30 days'
      GROUP BY ca_id, auto_renew`,
  );
  return rows.map((r) => ({ caId: r.ca_id, autoRenew: r.auto_renew, within7d: Number(r.d7), within30d: Number(r.d30) }));
}
