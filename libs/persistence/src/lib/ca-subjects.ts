/**
 * Reads about issuing CAs that certificate lists, stats and CRL info show beside the certificates: the
 * CA's names (for search and `byIssuer`) and the serials its current CRL lists.
 */
import type { EntityManager } from 'typeorm';

/**
 * A CA's subject as a lowercase RFC 4514 string (`cn=issuing ca,o=acme,c=de`: the most specific attribute
 * first, as libs/pki formatName writes the DN of a certificate Signet made), from its stored subject record,
 * unescaped and without spaces around `=`, `,` and `+` (a search is compared the same way).
 */
const SUBJECT_DN_SQL = `regexp_replace(lower(concat_ws(',',
  'emailaddress=' || (subject->>'emailAddress'), 'serialnumber=' || (subject->>'serialNumber'), 'cn=' || (subject->>'commonName'),
  'ou=' || (subject->>'organizationalUnit'), 'o=' || (subject->>'organization'), 'l=' || (subject->>'locality'),
  'st=' || (subject->>'state'), 'c=' || (subject->>'country'))), '\\s*([,=+])\\s*', '\\1', 'g')`;

/**
 * SQL for a sub-select of the ids of the CAs of an org whose common name is LIKE `likeParam`, or whose
 * subject DN string is LIKE `dnLikeParam` (both lowercase patterns; the DN one without spaces around
 * `=`, `,` and `+`); `orgColumn` names the org.
 */
export function caIdsWithSubjectLike(orgColumn: string, likeParam: string, dnLikeParam: string): string {
  return `SELECT id FROM cas WHERE org_id = ${orgColumn} AND (lower(common_name) LIKE ${likeParam} OR ${SUBJECT_DN_SQL} LIKE ${dnLikeParam})`;
}

/** The common names of these CAs, by id. */
export async function caNamesOf(manager: EntityManager, caIds: string[]): Promise<Map<string, string>> {
  if (!caIds.length) return new Map();
  const rows: { id: string; common_name: string }[] = await manager.query(`SELECT id, common_name FROM cas WHERE id = ANY($1::uuid[])`, [caIds]);
  return new Map(rows.map((r) => [r.id, r.common_name]));
}

/**
 * A page of the serials on the CA's CRL of `thisUpdate`: its intermediates and leaves revoked by then and
 * not yet expired (what the CRL builder lists, RFC 5280 3.3), in serial order after `after`; of one shard
 * (`shard` set): its leaves only. Index-only (certificates_revoked_idx, certificates_crl_shard_idx), so a
 * CA with a million revoked costs a page, not the list.
 */
export async function revokedSerialsOnCrl(manager: EntityManager, caId: string, thisUpdate: Date, after: string, limit: number, shard: number | null = null): Promise<string[]> {
  if (shard !== null) {
    const rows: { s: string }[] = await manager.query(
      `SELECT serial_number AS s FROM certificates
        WHERE ca_id = $1 AND status = 'revoked' AND crl_shard = $5 AND serial_number > $3 AND valid_to > $2 AND revoked_at <= $2
        ORDER BY serial_number LIMIT $4`,
      [caId, thisUpdate, after, limit, shard],
    );
    return rows.map((r) => r.s);
  }
  const rows: { s: string }[] = await manager.query(
    `SELECT s FROM (
       (SELECT serial_number AS s FROM certificates
         WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $3 AND valid_to > $2 AND revoked_at <= $2
         ORDER BY serial_number LIMIT $4)
       UNION ALL
       (SELECT serial_number FROM cas
         WHERE parent_ca_id = $1 AND status = 'revoked' AND serial_number > $3 AND valid_to > $2 AND revoked_at <= $2
         ORDER BY serial_number LIMIT $4)
     ) page ORDER BY s LIMIT $4`,
    [caId, thisUpdate, after, limit],
  );
  return rows.map((r) => r.s);
}
