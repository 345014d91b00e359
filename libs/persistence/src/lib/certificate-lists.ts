/**
 * Certificates as the gateway lists and counts them (API.md's `GET /certificates` and
 * `GET /certificates/stats`): every filter, search, sort and page in one query, and the counts of an
 * org's certificates, optionally narrowed to some of its CAs.
 */
import type { EntityManager } from 'typeorm';
import { CertificateEntity } from './entities';
import { caIdsWithSubjectLike } from './ca-subjects';

/** An id no CA has: what `caIds: []` (a member key that may read no CA) is narrowed to, so it lists nothing. */
const NO_CA = '00000000-0000-0000-0000-000000000000';

export interface CertificateListQuery {
  orgId: string;
  /** Only certificates of these CAs (a member key's readable CAs); null: every CA of the org. */
  caIds: string[] | null;
  caId?: string;
  usage?: string;
  profileId?: string;
  /** issued, acme, imported, ... (API.md section 8). */
  source?: string;
  createdFrom?: string;
  createdTo?: string;
  /**
   * active: unexpired and not revoked; expired: past validTo, not revoked; revoked. Ignored when
   * `expiringWithinDays` is given: then the active certificates whose validTo is within that many days.
   */
  status?: 'active' | 'expired' | 'revoked';
  expiringWithinDays?: number;
  /**
   * A case-insensitive substring of the common name, a DNS SAN, the serial or fingerprint (colons
   * ignored), or the issuing CA's common name or DN string (spaces around `=`, `,` and `+` ignored).
   */
  search?: string;
  sortBy: 'validTo' | 'commonName' | 'createdAt';
  sortOrder: 'asc' | 'desc';
  skip: number;
  take: number;
}

/** One page of the org's certificates as `q` asks (ties by id, in the same direction), and how many match in all. One query. */
export function certificatesPage(manager: EntityManager, q: CertificateListQuery): Promise<[CertificateEntity[], number]> {
  const query = manager.getRepository(CertificateEntity).createQueryBuilder('c').where('c.org_id = :orgId', { orgId: q.orgId });
  if (q.caIds) query.andWhere('c.ca_id = ANY(:readable)', { readable: q.caIds.length ? q.caIds : [NO_CA] });
  if (q.caId) query.andWhere('c.ca_id = :caId', { caId: q.caId });
  if (q.usage) query.andWhere('c.usage = :usage', { usage: q.usage });
  if (q.profileId) query.andWhere('c.profile_id = :profileId', { profileId: q.profileId });
  if (q.source) query.andWhere('c.source = :source', { source: q.source });
  if (q.createdFrom) query.andWhere('c.created_at >= :createdFrom', { createdFrom: q.createdFrom });
  if (q.createdTo) query.andWhere('c.created_at <= :createdTo', { createdTo: q.createdTo });
  switch (q.expiringWithinDays === undefined ? q.status : 'expiring') {
    case 'active':
      query.andWhere(`c.status = 'active' AND c.valid_to > now()`);
      break;
    case 'expiring':
      query.andWhere(`c.status = 'active' AND c.valid_to > now() AND c.valid_to <= now() + make_interval(days => :days)`, { days: q.expiringWithinDays });
      break;
    case 'expired':
      query.andWhere(`c.status = 'active' AND c.valid_to <= now()`);
      break;
    case 'revoked':
      query.andWhere(`c.status = 'revoked'`);
      break;
  }
  if (q.search) {
    // Substrings of all four, case-insensitive; in serials and fingerprints colons are ignored too.
    const contains = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const hex = q.search.replace(/:/g, '');
    // The issuer: its common name or its DN string (`CN=..,O=..`), written with or without spaces around = and ,.
    const dn = q.search.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
    query.andWhere(
      `(lower(c.common_name) LIKE :like OR EXISTS (SELECT 1 FROM unnest(c.san_dns) AS d WHERE d LIKE :like)
          OR (:hex <> '' AND (c.serial_number LIKE :serial OR c.fingerprint_sha256 LIKE :fingerprint))
          OR c.ca_id IN (${caIdsWithSubjectLike('c.org_id', ':like', ':dnLike')})
          OR (c.ca_id IS NULL AND replace(replace(replace(lower(c.issuer_dn), ', ', ','), ' = ', '='), ' =', '=') LIKE :dnLike))`,
      { like: contains(q.search.toLowerCase()), dnLike: contains(dn), hex, serial: contains(hex.toUpperCase()), fingerprint: contains(hex.toLowerCase()) },
    );
  }
  const column = { validTo: 'c.valid_to', commonName: 'lower(c.common_name)', createdAt: 'c.created_at' }[q.sortBy];
  const order = q.sortOrder === 'asc' ? 'ASC' : 'DESC';
  return query.orderBy(column, order).addOrderBy('c.id', order).skip(q.skip).take(q.take).getManyAndCount();
}

/** Which of an org's certificates a count covers. */
export interface CertificateScope {
  orgId: string;
  /** Only certificates of these CAs (a member key's readable CAs); null: every CA of the org. */
  caIds: string[] | null;
  /** Only this CA's. */
  caId?: string;
}

/** The scope as a WHERE clause over `certificates` and its parameters. */
function scopeSql(scope: CertificateScope): { where: string; params: unknown[] } {
  const params: unknown[] = [scope.orgId];
  let where = 'org_id = $1';
  if (scope.caIds) {
    params.push(scope.caIds);
    where += ` AND ca_id = ANY($${params.length})`;
  }
  if (scope.caId) {
    params.push(scope.caId);
    where += ` AND ca_id = $${params.length}`;
  }
  return { where, params };
}

/** API.md's certificate stats counters (expired: past validTo and not revoked; expiring: active and within the days). */
export interface CertificateTotals {
  total: number;
  active: number;
  expired: number;
  revoked: number;
  expiring7Days: number;
  expiring30Days: number;
  autoRenewEnabled: number;
}

/** The counters of the certificates in `scope`, at the database's now. One query. */
export async function certificateTotals(manager: EntityManager, scope: CertificateScope): Promise<CertificateTotals> {
  const { where, params } = scopeSql(scope);
  const active = `status = 'active' AND valid_to > now()`;
  const [totals] = await manager.query(
    `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE ${active})::int AS active,
              count(*) FILTER (WHERE status = 'active' AND valid_to <= now())::int AS expired,
              count(*) FILTER (WHERE status = 'revoked')::int AS revoked,
              count(*) FILTER (WHERE ${active} AND valid_to <= now() + interval '7 days')::int AS "expiring7Days",
              count(*) FILTER (WHERE ${active} AND valid_to <= now() + interval '30 days')::int AS "expiring30Days",
              count(*) FILTER (WHERE auto_renew AND ${active})::int AS "autoRenewEnabled"
         FROM certificates WHERE ${where}`,
    params,
  );
  return totals;
}

/** How many certificates of `scope` there are per value of `column` (values without certificates are absent). One query. */
export async function certificateCountsBy(
  manager: EntityManager,
  scope: CertificateScope,
  column: 'ca_id' | 'usage' | 'key_algorithm',
): Promise<Record<string, number>> {
  const { where, params } = scopeSql(scope);
  const rows: { k: string; n: number }[] = await manager.query(`SELECT ${column} AS k, count(*)::int AS n FROM certificates WHERE ${where} AND ${column} IS NOT NULL GROUP BY 1`, params);
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

/** Certificates from elsewhere (no Signet CA) in scope, counted by their issuer's name. */
export async function importedCountsByIssuer(manager: EntityManager, scope: CertificateScope): Promise<Record<string, number>> {
  const { where, params } = scopeSql(scope);
  const rows: { k: string; n: number }[] = await manager.query(
    `SELECT coalesce(issuer_dn, '') AS k, count(*)::int AS n FROM certificates WHERE ${where} AND ca_id IS NULL GROUP BY 1`, params,
  );
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}
