/**
 * CAs with the state of the chain above them: a CA under a revoked or expired CA, at any depth, may
 * not sign (API.md: `ca_unavailable`). One statement for any number of CAs: each row carries the
 * nearest unavailable ancestor, found by a recursive walk up `parent_ca_id` (bounded, so a corrupt
 * loop cannot spin), for the issuance hot path (one query per coalesced job) and for CA creation.
 */
import type { EntityManager } from 'typeorm';
import { CertificateAuthorityEntity } from './entities';

/** Deeper than any sane hierarchy: the walk stops there. */
export const MAX_CA_CHAIN_DEPTH = 16;

export interface UnavailableAncestor {
  caId: string;
  reason: 'revoked' | 'expired';
}

export interface CaWithChain {
  ca: CertificateAuthorityEntity;
  /** The nearest CA above this one (its parent, the parent's parent, ...) that is revoked or expired at `at`; null when none is. */
  unavailableAncestor: UnavailableAncestor | null;
}

/** The CAs of `ids` that exist, by id, each with its nearest unavailable ancestor at `at`. */
export async function casWithChain(manager: EntityManager, ids: string[], at: Date): Promise<Map<string, CaWithChain>> {
  if (!ids.length) return new Map();
  const { entities, raw } = await manager
    .getRepository(CertificateAuthorityEntity)
    .createQueryBuilder('ca')
    .addSelect(
      `(WITH RECURSIVE up (id, parent_ca_id, status, valid_to, n) AS (
          SELECT p.id, p.parent_ca_id, p.status, p.valid_to, 1 FROM cas p WHERE p.id = ca.parent_ca_id
          UNION ALL
          SELECT p.id, p.parent_ca_id, p.status, p.valid_to, up.n + 1 FROM up JOIN cas p ON p.id = up.parent_ca_id WHERE up.n < ${MAX_CA_CHAIN_DEPTH}
        )
        SELECT json_build_object('caId', up.id, 'reason', CASE WHEN up.status = 'revoked' THEN 'revoked' ELSE 'expired' END)
          FROM up WHERE up.status = 'revoked' OR up.valid_to <= :at ORDER BY up.n LIMIT 1)`,
      'unavailable_ancestor',
    )
    .where('ca.id IN (:...ids)', { ids })
    .setParameter('at', at)
    .getRawAndEntities();
  const blocked = new Map<string, UnavailableAncestor | null>(
    raw.map((row: { ca_id: string; unavailable_ancestor: UnavailableAncestor | null }) => [row.ca_id, row.unavailable_ancestor]),
  );
  return new Map(entities.map((ca) => [ca.id, { ca, unavailableAncestor: blocked.get(ca.id) ?? null }]));
}
