/**
 * CRLs as the signer builds and stores them, and as the gateway's public endpoints read them: each CA's
 * full CRL (`crls`, numbered by `cas.last_crl_number`) and, for a CA with `crl_shards` > 1, one CRL per
 * shard (`crl_shards`, each with its own number sequence: RFC 5280 5.2.3 numbers per scope). Builders
 * of one scope take turns (a transaction-scoped advisory lock), so its CRL numbers never interleave
 * across signers: a build takes the lock, reads the last number, and stores number + 1 with its CRL
 * before the next builder may start. Builds of different shards of one CA run side by side.
 */
import type { EntityManager } from 'typeorm';
import type { RevocationReasonName } from './entities';

/**
 * One CRL of a CA: its full CRL (`shard` null: every revoked certificate and intermediate) or one shard
 * (the revoked leaves whose distribution point names that shard).
 */
export type CrlShard = number | null;

/** Wait for, then hold until `manager`'s transaction ends, the build lock of the CA's full CRL or of one shard. */
export async function lockCrlBuilds(manager: EntityManager, caId: string, shard: CrlShard = null): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext('signet-crl:' || $1))`, [shard === null ? caId : `${caId}:${shard}`]);
}

/** The number of the CA's last full CRL or shard CRL (0 before its first), and how many entries it listed. Read under lockCrlBuilds. */
export async function lastCrlNumber(manager: EntityManager, caId: string, shard: CrlShard = null): Promise<{ crlNumber: bigint; revokedCount: number }> {
  const [row] = shard === null
    ? await manager.query(`SELECT ca.last_crl_number::text AS n, c.revoked_count AS count FROM cas ca LEFT JOIN crls c ON c.ca_id = ca.id WHERE ca.id = $1`, [caId])
    : await manager.query(`SELECT crl_number::text AS n, revoked_count AS count FROM crl_shards WHERE ca_id = $1 AND shard = $2`, [caId, shard]);
  return { crlNumber: BigInt(row?.n ?? 0), revokedCount: row?.count ?? 0 };
}

export interface CrlToStore {
  caId: string;
  /** null: the full CRL. */
  shard: CrlShard;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
  der: Buffer;
}

/**
 * Store the CA's new full CRL and record its number (two statements), or upsert a shard's CRL (whose row
 * keeps its number), replacing the one before; under lockCrlBuilds.
 */
export async function storeCrl(manager: EntityManager, crl: CrlToStore): Promise<void> {
  if (crl.shard !== null) {
    await manager.query(
      `INSERT INTO crl_shards (ca_id, shard, crl_number, this_update, next_update, revoked_count, der, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now())
       ON CONFLICT (ca_id, shard) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
         next_update = excluded.next_update, revoked_count = excluded.revoked_count, der = excluded.der, updated_at = now()`,
      [crl.caId, crl.shard, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, crl.revokedCount, crl.der],
    );
    return;
  }
  await manager.query(`UPDATE cas SET last_crl_number = $2 WHERE id = $1`, [crl.caId, crl.crlNumber.toString()]);
  await manager.query(
    `INSERT INTO crls (ca_id, crl_number, this_update, next_update, revoked_count, der, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (ca_id) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
       next_update = excluded.next_update, revoked_count = excluded.revoked_count, der = excluded.der, updated_at = now()`,
    [crl.caId, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, crl.revokedCount, crl.der],
  );
}

/**
 * A page of CRL entries packed in one string, the shape @signet/pki's CrlEntryText takes: for each entry
 * `<serial hex> <revocation time in whole seconds since the epoch> <CRLReason code>`, separated by ','.
 */
export interface PackedRevokedPage {
  packed: string;
  count: number;
}

/** Each reason name's RFC 5280 CRLReason code (@signet/pki's REVOCATION_REASONS): how pages spell reasons. */
export type ReasonCodes = Readonly<Record<string, number>>;

/**
 * One statement per page: the rows are aggregated into one string by PostgreSQL (string_agg) so a page of
 * 20,000 entries crosses node-pg as one value, not as 20,000 row objects with a parsed Date each (that
 * parsing was most of a million-entry build). `last` is the page's highest serial, the next page's key.
 */
const PACKED = `count(*)::int AS n, max(s) AS last,
  string_agg(s || ' ' || floor(extract(epoch FROM at))::bigint || ' ' || coalesce(($4::int[])[array_position($3::text[], r)], 0), ',') AS packed`;

/**
 * What the CA's full CRL (`shard` null) or one shard lists at `now`, `pageSize` entries at a time in
 * serial order (keyset pages), packed: the revoked leaves that have not expired (an expired certificate
 * leaves the CRL, RFC 5280 3.3) and, on the full CRL only, the CA's revoked intermediates (shards hold
 * leaves only: their IDP says onlyContainsUserCerts, and intermediates name the full CRL). A million
 * revoked certificates stream into the encoder without a million row objects.
 */
export async function* revokedEntryPages(
  manager: EntityManager, caId: string, now: Date, pageSize: number, reasons: ReasonCodes, shard: CrlShard = null,
): AsyncGenerator<PackedRevokedPage> {
  const names = Object.keys(reasons);
  const codes = names.map((name) => reasons[name]);
  if (shard === null) {
    const [cas]: { n: number; packed: string | null }[] = await manager.query(
      `SELECT ${PACKED} FROM (SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM cas
        WHERE parent_ca_id = $1 AND status = 'revoked' AND valid_to > $2) page`,
      [caId, now, names, codes],
    );
    if (cas.n) yield { packed: cas.packed!, count: cas.n };
  }
  const limit = Math.trunc(pageSize);
  const inShard = shard === null ? '' : 'AND crl_shard = $6';
  let after = '';
  for (;;) {
    const [page]: { n: number; last: string | null; packed: string | null }[] = await manager.query(
      `SELECT ${PACKED} FROM (SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
        WHERE ca_id = $1 AND status = 'revoked' ${inShard} AND serial_number > $5 AND valid_to > $2
        ORDER BY serial_number LIMIT ${limit}) page`,
      shard === null ? [caId, now, names, codes, after] : [caId, now, names, codes, after, shard],
    );
    if (!page.n) return;
    yield { packed: page.packed!, count: page.n };
    if (page.n < limit) return;
    after = page.last!;
  }
}

/**
 * Ids of the CAs whose CRL a sweep should rebuild: unexpired, without a passphrase, and with no CRL
 * yet, one whose nextUpdate is within `marginSeconds`, or one older than a revocation (of a leaf or an
 * intermediate) made more than `missedAfterSeconds` ago, whose own scheduled rebuild should long have run.
 */
export async function casDueForCrl(manager: EntityManager, marginSeconds: number, missedAfterSeconds: number): Promise<string[]> {
  const rows: { id: string }[] = await manager.query(
    `SELECT ca.id FROM cas ca LEFT JOIN crls c ON c.ca_id = ca.id
      WHERE NOT ca.has_passphrase AND ca.valid_to > now()
        AND (c.ca_id IS NULL
             OR c.next_update < now() + make_interval(secs => $1)
             OR EXISTS (SELECT 1 FROM certificates x WHERE x.ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2))
             OR EXISTS (SELECT 1 FROM cas x WHERE x.parent_ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2)))`,
    [marginSeconds, missedAfterSeconds],
  );
  return rows.map((r) => r.id);
}

/**
 * Shards of CAs a sweep should (re)build, as casDueForCrl does for full CRLs: of unexpired CAs without a
 * passphrase, every shard new leaves may land on (0..crl_shards-1) and every shard that has a CRL (a
 * count lowered later keeps serving the shards older certificates name), with no CRL yet, one whose
 * nextUpdate is within `marginSeconds`, or one older than a revocation in it made more than
 * `missedAfterSeconds` ago.
 */
export async function crlShardsDue(manager: EntityManager, marginSeconds: number, missedAfterSeconds: number): Promise<{ caId: string; shard: number }[]> {
  const rows: { ca_id: string; shard: number }[] = await manager.query(
    `SELECT ca.id AS ca_id, s.shard FROM cas ca
       CROSS JOIN LATERAL (SELECT g::smallint AS shard FROM generate_series(0, ca.crl_shards - 1) g WHERE ca.crl_shards > 1
                           UNION SELECT shard FROM crl_shards WHERE ca_id = ca.id) s
       LEFT JOIN crl_shards c ON c.ca_id = ca.id AND c.shard = s.shard
      WHERE NOT ca.has_passphrase AND ca.valid_to > now()
        AND (c.ca_id IS NULL
             OR c.next_update < now() + make_interval(secs => $1)
             OR EXISTS (SELECT 1 FROM certificates x WHERE x.ca_id = ca.id AND x.status = 'revoked' AND x.crl_shard = s.shard
                          AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2)))
      ORDER BY ca.id, s.shard`,
    [marginSeconds, missedAfterSeconds],
  );
  return rows.map((r) => ({ caId: r.ca_id, shard: r.shard }));
}

/** Of the shards 0..count-1 of the CA, those without a CRL yet (a new CA's, or a raised count's). */
export async function crlShardsWithoutCrl(manager: EntityManager, caId: string, count: number): Promise<number[]> {
  if (count <= 1) return [];
  const rows: { shard: number }[] = await manager.query(
    `SELECT g AS shard FROM generate_series(0, $2::int - 1) g
      WHERE NOT EXISTS (SELECT 1 FROM crl_shards WHERE ca_id = $1 AND shard = g) ORDER BY g`,
    [caId, count],
  );
  return rows.map((r) => r.shard);
}

/** A stored CRL's numbers and times, without its bytes. The number as text: it is a bigint. */
export interface StoredCrlHead {
  crlNumber: string;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
}

/** Where a scope's CRL is stored: the full CRL's row in `crls`, a shard's in `crl_shards`. */
const scopeOf = (caId: string, shard: CrlShard): { from: string; params: unknown[] } =>
  shard === null ? { from: 'crls WHERE ca_id = $1', params: [caId] } : { from: 'crl_shards WHERE ca_id = $1 AND shard = $2', params: [caId, shard] };

/** The number of the CA's current full or shard CRL, null before its first: a one-row index read, asked on every CRL request. */
export async function currentCrlNumber(manager: EntityManager, caId: string, shard: CrlShard = null): Promise<string | null> {
  const { from, params } = scopeOf(caId, shard);
  const [head] = await manager.query(`SELECT crl_number::text AS n FROM ${from}`, params);
  return head ? (head.n as string) : null;
}

/** The CA's current full or shard CRL's numbers and times, without reading its bytes; null before its first. */
export async function currentCrlHead(manager: EntityManager, caId: string, shard: CrlShard = null): Promise<StoredCrlHead | null> {
  const { from, params } = scopeOf(caId, shard);
  const [row] = await manager.query(`SELECT crl_number::text AS n, this_update, next_update, revoked_count FROM ${from}`, params);
  return row ? { crlNumber: row.n, thisUpdate: row.this_update, nextUpdate: row.next_update, revokedCount: row.revoked_count } : null;
}

/**
 * The CA's current full or shard CRL with its bytes; null before its first. One read. node-pg returns
 * bytea as a hex string (two characters a byte); base64 is a third smaller on the wire and in memory,
 * and decodes faster (Buffer's decoder skips PostgreSQL's newlines).
 */
export async function currentCrl(manager: EntityManager, caId: string, shard: CrlShard = null): Promise<(StoredCrlHead & { der: Buffer }) | null> {
  const { from, params } = scopeOf(caId, shard);
  const [row] = await manager.query(
    `SELECT crl_number::text AS n, this_update, next_update, revoked_count, encode(der, 'base64') AS der FROM ${from}`,
    params,
  );
  if (!row) return null;
  return {
    crlNumber: row.n, thisUpdate: row.this_update, nextUpdate: row.next_update, revokedCount: row.revoked_count,
    der: Buffer.from(row.der as string, 'base64'),
  };
}
