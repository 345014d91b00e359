/**
 * Certificates as the gateway lists and counts them (API.md's `GET /certificates` and
 * `GET /certificates/stats`): every filter, search, sort and page in one query, and the counts of an
 * org's certificates, optionally narrowed to some of its CAs.
 */
import type { EntityManager } from 'typeorm';
import { CertificateEntity } from './entities';
import { caIdsWithSubjectLike } from './ca-subjects';
import { IMPORTED_ISSUER_SQL } from './migrations/1765900000000-inventory-search-indexes';

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
  /** Keyset paging: only rows after this one in the sort order (then `skip` is 0 and no total is counted). */
  after?: CertificateListPosition;
  skip: number;
  take: number;
}

/**
 * Where a row stands in a sort: its sort key as the database writes it (a timestamp as ISO 8601 UTC with
 * microseconds, which a JavaScript Date would round to milliseconds; a common name lowercased) and its id.
 */
export interface CertificateListPosition {
  key: string;
  id: string;
}

export interface CertificatePage {
  rows: CertificateEntity[];
  /** How many match in all; null for a keyset page (counting millions of rows is what keyset paging avoids). */
  total: number | null;
  /** The last row's position when more rows follow it, else null. */
  next: CertificateListPosition | null;
}

/** The sort columns of the list, each with its index ((org_id, <column>, id)) and its key as text. */
const SORTS = {
  validTo: { column: 'c.valid_to', key: `to_char(c.valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, cast: 'timestamptz' },
  commonName: { column: 'lower(c.common_name)', key: 'lower(c.common_name)', cast: 'text' },
  createdAt: { column: 'c.created_at', key: `to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, cast: 'timestamptz' },
} as const;

/**
 * One page of the org's certificates as `q` asks (ties by id, in the same direction): by offset with the
 * total, or by keyset (`after`) without it. The keyset condition is a row comparison on the sort index's
 * own columns, so a page deep in the list costs what the first does.
 */
export async function certificatesPage(manager: EntityManager, q: CertificateListQuery): Promise<CertificatePage> {
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
  let searchCount: (() => Promise<number>) | null = null;
  if (q.search) {
    // Substrings of all four, case-insensitive; in serials and fingerprints colons are ignored too.
    const contains = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const hex = q.search.replace(/:/g, '');
    // The issuer: its common name or its DN string (`CN=..,O=..`), written with or without spaces around = and ,.
    const dn = q.search.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
    // Each arm leads with a condition a trigram index serves (migration 1765900000000), so the arms are
    // bitmap index scans OR-ed together; the exact condition after it is checked on the rows found.
    // The issuing CAs whose name matches are looked up first and given as values: an arm the planner cannot
    // estimate (a sub-select) made it expect most rows to match and read the whole sort index for a page.
    const issuingCaIds: string[] = (
      await manager.query(caIdsWithSubjectLike('$1', '$2', '$3'), [q.orgId, contains(q.search.toLowerCase()), contains(dn)])
    ).map((row: { id: string }) => row.id);
    const rowArms = `((certificate_names_text(c.common_name, c.san_dns) LIKE :like
            AND (lower(c.common_name) LIKE :like OR EXISTS (SELECT 1 FROM unnest(c.san_dns) AS d WHERE d LIKE :like)))
          OR (:hex <> '' AND (lower(c.serial_number) || ' ' || c.fingerprint_sha256) LIKE :hexLike
            AND (c.serial_number LIKE :serial OR c.fingerprint_sha256 LIKE :fingerprint))
          OR (c.ca_id IS NULL AND ${IMPORTED_ISSUER_SQL.replace('issuer_dn', 'c.issuer_dn')} LIKE :dnLike))`;
    query.setParameters({
      like: contains(q.search.toLowerCase()), dnLike: contains(dn), hex, hexLike: contains(hexIndexWindow(hex.toLowerCase())),
      serial: contains(hex.toUpperCase()), fingerprint: contains(hex.toLowerCase()), issuingCaIds,
    });
    if (issuingCaIds.length) {
      const base = query.clone();
      // A name that matches whole CAs: counted as two disjoint parts, that CAs' certificates (from the
      // (ca_id, ...) indexes, without reading each row) and the other matches, instead of checking every
      // row of those CAs against the row arms too (11.4 s against about 1 s for 700,000 rows).
      searchCount = async () => {
        const [ofCas, others] = await Promise.all([
          base.clone().andWhere('c.ca_id = ANY(:issuingCaIds)').getCount(),
          base.clone().andWhere('(c.ca_id IS NULL OR NOT (c.ca_id = ANY(:issuingCaIds)))').andWhere(rowArms).getCount(),
        ]);
        return ofCas + others;
      };
      query.andWhere(`(${rowArms} OR c.ca_id = ANY(:issuingCaIds))`);
    } else query.andWhere(rowArms);
  }
  const sort = SORTS[q.sortBy];
  const order = q.sortOrder === 'asc' ? 'ASC' : 'DESC';
  const counting = q.after ? null : query.clone();
  if (q.after) {
    query.andWhere(`(${sort.column}, c.id) ${order === 'ASC' ? '>' : '<'} (CAST(:afterKey AS ${sort.cast}), CAST(:afterId AS uuid))`, {
      afterKey: q.after.key, afterId: q.after.id,
    });
  }
  // One row more than asked says whether another page follows.
  const { entities, raw } = await query.addSelect(sort.key, 'sort_key').orderBy(sort.column, order).addOrderBy('c.id', order)
    .offset(q.skip).limit(q.take + 1).getRawAndEntities<{ sort_key: string }>();
  const rows = entities.slice(0, q.take);
  const last = rows.length ? { key: raw[rows.length - 1].sort_key, id: rows[rows.length - 1].id } : null;
  const more = entities.length > q.take;
  // The last page says the total itself (a search for one serial, a short list): no second pass to count.
  // A page past the end (no rows after a skip) does not: then count.
  const lastPageTotal = !more && (rows.length > 0 || q.skip === 0) ? q.skip + rows.length : null;
  const total = counting ? lastPageTotal ?? (await (searchCount ? searchCount() : counting.getCount())) : null;
  return { rows, total, next: more ? last : null };
}

/**
 * The part of a hex search the trigram index looks for: at most 16 characters (64 bits, so a few false
 * candidates among billions of serials and fingerprints), which the exact LIKE then checks in full. A
 * whole fingerprint is 62 trigrams, and intersecting 62 posting lists of a hex index cost more than the
 * 14 of its first 16 characters (300 ms against 80 at 5 million certificates).
 */
function hexIndexWindow(hex: string): string {
  return hex.slice(0, 16);
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

/** The counters and the counts by CA, usage, key algorithm and (certificates from elsewhere) issuer name; values without certificates are absent. */
export interface CertificateCounts extends CertificateTotals {
  byCa: Record<string, number>;
  byUsage: Record<string, number>;
  byKeyAlgorithm: Record<string, number>;
  importedByIssuer: Record<string, number>;
}

/** GROUPING() of (ca_id, usage, key_algorithm, imported_issuer) for each grouping set: a bit per column not grouped by. */
const GROUPED_BY = { all: 0b1111, caId: 0b0111, usage: 0b1011, keyAlgorithm: 0b1101, importedIssuer: 0b1110 } as const;

/**
 * The counts of the certificates in `scope`, at the database's now: one pass over them (GROUPING SETS),
 * where one query per figure read an inventory of millions five times.
 */
export async function certificateCounts(manager: EntityManager, scope: CertificateScope): Promise<CertificateCounts> {
  const { where, params } = scopeSql(scope);
  const active = `status = 'active' AND valid_to > now()`;
  const rows: (CertificateTotals & { g: number; ca_id: string | null; usage: string | null; key_algorithm: string | null; imported_issuer: string | null })[] =
    await manager.query(
      `SELECT GROUPING(ca_id, usage, key_algorithm, imported_issuer)::int AS g, ca_id, usage, key_algorithm, imported_issuer,
              count(*)::int AS total,
              count(*) FILTER (WHERE ${active})::int AS active,
              count(*) FILTER (WHERE status = 'active' AND valid_to <= now())::int AS expired,
              count(*) FILTER (WHERE status = 'revoked')::int AS revoked,
              count(*) FILTER (WHERE ${active} AND valid_to <= now() + interval '7 days')::int AS "expiring7Days",
              count(*) FILTER (WHERE ${active} AND valid_to <= now() + interval '30 days')::int AS "expiring30Days",
              count(*) FILTER (WHERE auto_renew AND ${active})::int AS "autoRenewEnabled"
         FROM (SELECT ca_id, usage, key_algorithm, status, valid_to, auto_renew,
                      CASE WHEN ca_id IS NULL THEN coalesce(issuer_dn, '') END AS imported_issuer
                 FROM certificates WHERE ${where}) c
        GROUP BY GROUPING SETS ((), (ca_id), (usage), (key_algorithm), (imported_issuer))`,
      params,
    );
  const counts: CertificateCounts = {
    total: 0, active: 0, expired: 0, revoked: 0, expiring7Days: 0, expiring30Days: 0, autoRenewEnabled: 0,
    byCa: {}, byUsage: {}, byKeyAlgorithm: {}, importedByIssuer: {},
  };
  for (const row of rows) {
    if (row.g === GROUPED_BY.all) {
      const { total, active, expired, revoked, expiring7Days, expiring30Days, autoRenewEnabled } = row;
      Object.assign(counts, { total, active, expired, revoked, expiring7Days, expiring30Days, autoRenewEnabled });
    } else if (row.g === GROUPED_BY.caId && row.ca_id !== null) counts.byCa[row.ca_id] = row.total;
    else if (row.g === GROUPED_BY.usage && row.usage !== null) counts.byUsage[row.usage] = row.total;
    else if (row.g === GROUPED_BY.keyAlgorithm && row.key_algorithm !== null) counts.byKeyAlgorithm[row.key_algorithm] = row.total;
    else if (row.g === GROUPED_BY.importedIssuer && row.imported_issuer !== null) counts.importedByIssuer[row.imported_issuer] = row.total;
  }
  return counts;
}
