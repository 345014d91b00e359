/**
 * The ACME server's rows (API.md section 7, RFC 8555): accounts, orders, authorizations, challenges and
 * external account binding keys. State changes are conditional UPDATEs (a challenge is started once, an
 * order is finalized once) so any gateway replica may answer any request. Expiry is read, not swept:
 * the status a client sees is `effective*Status` of the stored one and the caller's clock.
 */
import { EntityManager, IsNull, Not } from 'typeorm';
import { CertificateEntity } from './entities';

export type AcmeIdentifierType = 'dns' | 'ip';
export interface AcmeIdentifier {
  type: AcmeIdentifierType;
  value: string;
}
export interface AcmeProblemJson {
  type: string;
  detail: string;
  status?: number;
  subproblems?: unknown[];
}
export type AcmeChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';
export type AcmeOrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export type AcmeAuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type AcmeChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';
export type AcmeAccountStatus = 'valid' | 'deactivated' | 'revoked';

export interface AcmeAccountRow {
  id: string;
  orgId: string;
  profileId: string;
  jwk: Record<string, unknown>;
  jwkThumbprint: string;
  status: AcmeAccountStatus;
  contact: string[];
  eabKeyId: string | null;
  createdAt: Date;
}

export interface AcmeOrderRow {
  id: string;
  accountId: string;
  status: AcmeOrderStatus;
  identifiers: AcmeIdentifier[];
  notBefore: Date | null;
  notAfter: Date | null;
  expires: Date;
  error: AcmeProblemJson | null;
  certificateId: string | null;
  replacesCertificateId: string | null;
  createdAt: Date;
  /** In the order's identifier order. */
  authorizationIds: string[];
}

export interface AcmeChallengeRow {
  id: string;
  authorizationId: string;
  type: AcmeChallengeType;
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | null;
  error: AcmeProblemJson | null;
}

export interface AcmeAuthorizationRow {
  id: string;
  accountId: string;
  identifier: AcmeIdentifier;
  wildcard: boolean;
  status: AcmeAuthorizationStatus;
  expires: Date;
  challenges: AcmeChallengeRow[];
}

export interface AcmeEabKeyRow {
  id: string;
  orgId: string;
  profileId: string;
  keyId: string;
  name: string | null;
  encryptedKey: Buffer;
  boundAccountId: string | null;
  createdAt: Date;
}

/** What an order looks like to its client now: a pending or ready order past `expires` is invalid. */
export function effectiveOrderStatus(order: Pick<AcmeOrderRow, 'status' | 'expires'>, now: Date): AcmeOrderStatus {
  return (order.status === 'pending' || order.status === 'ready') && order.expires <= now ? 'invalid' : order.status;
}

/** A pending or valid authorization past `expires` has expired (RFC 8555 7.1.6). */
export function effectiveAuthorizationStatus(authz: Pick<AcmeAuthorizationRow, 'status' | 'expires'>, now: Date): AcmeAuthorizationStatus {
  return (authz.status === 'pending' || authz.status === 'valid') && authz.expires <= now ? 'expired' : authz.status;
}

// ---- external account binding keys ----

type Raw = Record<string, any>;

const eabKeyOf = (r: Raw): AcmeEabKeyRow => ({
  id: r.id, orgId: r.org_id, profileId: r.profile_id, keyId: r.key_id, name: r.name, encryptedKey: r.encrypted_key,
  boundAccountId: r.bound_account_id, createdAt: r.created_at,
});

export async function insertAcmeEabKey(manager: EntityManager, row: Omit<AcmeEabKeyRow, 'boundAccountId' | 'createdAt'>): Promise<AcmeEabKeyRow> {
  const [r] = await manager.query(
    `INSERT INTO acme_eab_keys (id, org_id, profile_id, key_id, name, encrypted_key) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [row.id, row.orgId, row.profileId, row.keyId, row.name, row.encryptedKey],
  );
  return eabKeyOf(r);
}

export async function acmeEabKeysOfOrg(manager: EntityManager, orgId: string, page: { offset: number; limit: number }, profileId?: string): Promise<{ rows: AcmeEabKeyRow[]; total: number }> {
  const rows: Raw[] = await manager.query(
    `SELECT *, count(*) OVER () AS total FROM acme_eab_keys WHERE org_id = $1 AND ($2::uuid IS NULL OR profile_id = $2::uuid)
      ORDER BY created_at DESC, id OFFSET $3 LIMIT $4`,
    [orgId, profileId ?? null, page.offset, page.limit],
  );
  const total = rows.length ? Number(rows[0].total) : (await manager.query(`SELECT count(*)::int AS n FROM acme_eab_keys WHERE org_id = $1 AND ($2::uuid IS NULL OR profile_id = $2::uuid)`, [orgId, profileId ?? null]))[0].n;
  return { rows: rows.map(eabKeyOf), total };
}

export async function acmeEabKeyInOrg(manager: EntityManager, id: string, orgId: string): Promise<AcmeEabKeyRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_eab_keys WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return r ? eabKeyOf(r) : null;
}

export async function acmeEabKeyById(manager: EntityManager, id: string): Promise<AcmeEabKeyRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_eab_keys WHERE id = $1`, [id]);
  return r ? eabKeyOf(r) : null;
}

export async function acmeEabKeyByKeyId(manager: EntityManager, keyId: string): Promise<AcmeEabKeyRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_eab_keys WHERE key_id = $1`, [keyId]);
  return r ? eabKeyOf(r) : null;
}

export async function deleteAcmeEabKey(manager: EntityManager, id: string, orgId: string): Promise<boolean> {
  const [, affected] = await manager.query(`DELETE FROM acme_eab_keys WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return affected > 0;
}

// ---- accounts ----

const accountOf = (r: Raw): AcmeAccountRow => ({
  id: r.id, orgId: r.org_id, profileId: r.profile_id, jwk: r.jwk, jwkThumbprint: r.jwk_thumbprint, status: r.status,
  contact: r.contact ?? [], eabKeyId: r.eab_key_id, createdAt: r.created_at,
});

export async function acmeAccountById(manager: EntityManager, id: string): Promise<AcmeAccountRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_accounts WHERE id = $1`, [id]);
  return r ? accountOf(r) : null;
}

export async function acmeAccountByThumbprint(manager: EntityManager, profileId: string, thumbprint: string): Promise<AcmeAccountRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_accounts WHERE profile_id = $1 AND jwk_thumbprint = $2`, [profileId, thumbprint]);
  return r ? accountOf(r) : null;
}

/**
 * A new account; with an EAB key, the key is bound to it in the same transaction (an EAB key binds one
 * account: a second binding finds it bound and nothing is written). The same key registering twice at
 * once: one insert wins, the other reads it back (`created: false`).
 */
export async function insertAcmeAccount(
  manager: EntityManager,
  row: Omit<AcmeAccountRow, 'status' | 'createdAt'>,
): Promise<{ account: AcmeAccountRow; created: boolean } | { eabAlreadyBound: true }> {
  return manager.transaction(async (tx) => {
    const inserted: Raw[] = await tx.query(
      `INSERT INTO acme_accounts (id, org_id, profile_id, jwk, jwk_thumbprint, contact, eab_key_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (profile_id, jwk_thumbprint) DO NOTHING RETURNING *`,
      [row.id, row.orgId, row.profileId, JSON.stringify(row.jwk), row.jwkThumbprint, row.contact, row.eabKeyId],
    );
    if (!inserted.length) return { account: (await acmeAccountByThumbprint(tx, row.profileId, row.jwkThumbprint))!, created: false };
    if (row.eabKeyId) {
      const [, bound] = await tx.query(`UPDATE acme_eab_keys SET bound_account_id = $2 WHERE id = $1 AND bound_account_id IS NULL`, [row.eabKeyId, row.id]);
      if (!bound) {
        await tx.query(`DELETE FROM acme_accounts WHERE id = $1`, [row.id]);
        return { eabAlreadyBound: true as const };
      }
    }
    return { account: accountOf(inserted[0]), created: true };
  });
}

/** The account changed (null: it was not valid any more) and how many of its orders its deactivation made invalid. */
export async function updateAcmeAccount(
  manager: EntityManager, id: string, changes: { contact?: string[]; status?: 'deactivated' },
): Promise<{ account: AcmeAccountRow | null; invalidatedOrders: number }> {
  const [rows] = await manager.query(
    `UPDATE acme_accounts SET contact = COALESCE($2, contact), status = COALESCE($3, status) WHERE id = $1 AND status = 'valid' RETURNING *`,
    [id, changes.contact ?? null, changes.status ?? null],
  );
  let invalidatedOrders = 0;
  if (changes.status === 'deactivated' && rows.length) {
    // RFC 8555 7.3.6: the account's pending operations end with it.
    await manager.query(`UPDATE acme_authorizations SET status = 'deactivated' WHERE account_id = $1 AND status IN ('pending', 'valid')`, [id]);
    const [orders] = await manager.query(`UPDATE acme_orders SET status = 'invalid', error = $2 WHERE account_id = $1 AND status IN ('pending', 'ready') RETURNING id`, [
      id, JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'the account was deactivated' }),
    ]);
    invalidatedOrders = orders.length;
  }
  return { account: rows.length ? accountOf(rows[0]) : null, invalidatedOrders };
}

/** keyChange: false when another account of the profile already has the new key. */
export async function changeAcmeAccountKey(manager: EntityManager, id: string, jwk: Record<string, unknown>, thumbprint: string): Promise<boolean> {
  const [rows] = await manager.query(
    `UPDATE acme_accounts a SET jwk = $2, jwk_thumbprint = $3 WHERE a.id = $1 AND a.status = 'valid'
        AND NOT EXISTS (SELECT 1 FROM acme_accounts o WHERE o.profile_id = a.profile_id AND o.jwk_thumbprint = $3) RETURNING id`,
    [id, JSON.stringify(jwk), thumbprint],
  );
  return rows.length > 0;
}

// ---- orders and authorizations ----

const challengeOf = (r: Raw): AcmeChallengeRow => ({
  id: r.id, authorizationId: r.authorization_id, type: r.type, token: r.token, status: r.status, validated: r.validated, error: r.error,
});

const orderOf = (r: Raw): AcmeOrderRow => ({
  id: r.id, accountId: r.account_id, status: r.status, identifiers: r.identifiers, notBefore: r.not_before, notAfter: r.not_after,
  expires: r.expires, error: r.error, certificateId: r.certificate_id, replacesCertificateId: r.replaces_certificate_id, createdAt: r.created_at,
  authorizationIds: r.authorization_ids ?? [],
});

const ORDER_SELECT = `SELECT o.*, ARRAY(SELECT authorization_id FROM acme_order_authorizations oa WHERE oa.order_id = o.id ORDER BY oa.position) AS authorization_ids FROM acme_orders o`;

/** An account's valid, unexpired authorizations for these identifiers (RFC 8555 7.1.3: reused by new orders). */
export async function reusableAcmeAuthorizations(
  manager: EntityManager,
  accountId: string,
  identifiers: { type: AcmeIdentifierType; value: string; wildcard: boolean }[],
  validUntil: Date,
): Promise<Map<string, string>> {
  if (!identifiers.length) return new Map();
  // A join on the wanted identifiers, so the partial index (account, type, value, wildcard) WHERE valid is
  // used: an expression over the columns would read every valid authorization of the account.
  const rows: Raw[] = await manager.query(
    `SELECT DISTINCT ON (a.identifier_type, a.identifier_value, a.wildcard) a.id, a.identifier_type, a.identifier_value, a.wildcard
       FROM unnest($3::text[], $4::text[], $5::boolean[]) AS w(type, value, wildcard)
       JOIN acme_authorizations a
         ON a.account_id = $1 AND a.identifier_type = w.type AND a.identifier_value = w.value AND a.wildcard = w.wildcard
      WHERE a.status = 'valid' AND a.expires > $2
      ORDER BY a.identifier_type, a.identifier_value, a.wildcard, a.expires DESC`,
    [accountId, validUntil, identifiers.map((i) => i.type), identifiers.map((i) => i.value), identifiers.map((i) => i.wildcard)],
  );
  return new Map(rows.map((r) => [`${r.identifier_type}:${r.identifier_value}:${r.wildcard}`, r.id]));
}

export interface NewAcmeAuthorization {
  id: string;
  identifier: AcmeIdentifier;
  wildcard: boolean;
  expires: Date;
  challenges: { id: string; type: AcmeChallengeType; token: string }[];
}

/** A new order with its new authorizations and challenges (and the reused ones linked), in one transaction. */
export async function insertAcmeOrder(
  manager: EntityManager,
  order: Omit<AcmeOrderRow, 'createdAt' | 'error' | 'certificateId'>,
  newAuthorizations: NewAcmeAuthorization[],
): Promise<AcmeOrderRow> {
  return manager.transaction(async (tx) => {
    for (const authz of newAuthorizations) {
      await tx.query(
        `INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires) VALUES ($1, $2, $3, $4, $5, 'pending', $6)`,
        [authz.id, order.accountId, authz.identifier.type, authz.identifier.value, authz.wildcard, authz.expires],
      );
      for (const c of authz.challenges) {
        await tx.query(`INSERT INTO acme_challenges (id, authorization_id, type, token, status) VALUES ($1, $2, $3, $4, 'pending')`, [c.id, authz.id, c.type, c.token]);
      }
    }
    await tx.query(
      `INSERT INTO acme_orders (id, account_id, status, identifiers, not_before, not_after, expires, replaces_certificate_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [order.id, order.accountId, order.status, JSON.stringify(order.identifiers), order.notBefore, order.notAfter, order.expires, order.replacesCertificateId],
    );
    await tx.query(
      `INSERT INTO acme_order_authorizations (order_id, authorization_id, position) SELECT $1, a, p::int - 1 FROM unnest($2::uuid[]) WITH ORDINALITY AS t(a, p)`,
      [order.id, order.authorizationIds],
    );
    return (await acmeOrderById(tx, order.id))!;
  });
}

export async function acmeOrderById(manager: EntityManager, id: string): Promise<AcmeOrderRow | null> {
  const [r] = await manager.query(`${ORDER_SELECT} WHERE o.id = $1`, [id]);
  return r ? orderOf(r) : null;
}

/** An account's orders, newest first, a page at a time (RFC 8555 7.1.2.1). */
export async function acmeOrderIdsOfAccount(manager: EntityManager, accountId: string, offset: number, limit: number): Promise<string[]> {
  const rows: Raw[] = await manager.query(
    `SELECT id FROM acme_orders WHERE account_id = $1 AND status IN ('pending', 'ready', 'processing', 'valid') ORDER BY created_at DESC, id OFFSET $2 LIMIT $3`,
    [accountId, offset, limit],
  );
  return rows.map((r) => r.id);
}

export async function acmeAuthorizationById(manager: EntityManager, id: string): Promise<AcmeAuthorizationRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_authorizations WHERE id = $1`, [id]);
  if (!r) return null;
  const challenges: Raw[] = await manager.query(`SELECT * FROM acme_challenges WHERE authorization_id = $1 ORDER BY type`, [id]);
  return {
    id: r.id, accountId: r.account_id, identifier: { type: r.identifier_type, value: r.identifier_value }, wildcard: r.wildcard,
    status: r.status, expires: r.expires, challenges: challenges.map(challengeOf),
  };
}

export async function acmeAuthorizationsByIds(manager: EntityManager, ids: string[]): Promise<AcmeAuthorizationRow[]> {
  const found = await Promise.all(ids.map((id) => acmeAuthorizationById(manager, id)));
  return found.filter((a): a is AcmeAuthorizationRow => a !== null);
}

export async function acmeChallengeById(manager: EntityManager, id: string): Promise<AcmeChallengeRow | null> {
  const [r] = await manager.query(`SELECT * FROM acme_challenges WHERE id = $1`, [id]);
  return r ? challengeOf(r) : null;
}

/**
 * A client's "ready" for a challenge: pending -> processing, once (RFC 8555 7.5.1), while its
 * authorization is pending and unexpired. False: already started, or the authorization is settled.
 */
export async function startAcmeChallenge(manager: EntityManager, id: string, now: Date): Promise<boolean> {
  const [rows] = await manager.query(
    `UPDATE acme_challenges c SET status = 'processing' FROM acme_authorizations a
      WHERE c.id = $1 AND c.status = 'pending' AND a.id = c.authorization_id AND a.status = 'pending' AND a.expires > $2 RETURNING c.id`,
    [id, now],
  );
  return rows.length > 0;
}

/**
 * A validation's outcome, in one transaction: the challenge, its authorization (valid, or invalid with
 * the problem), and the orders holding that authorization (ready once all theirs are valid; invalid
 * when one is invalid). Only a challenge still processing is settled (a retried job settles once).
 * Answers whether it settled the challenge and how many orders it made invalid.
 */
export async function settleAcmeChallenge(
  manager: EntityManager,
  outcome: { challengeId: string; valid: boolean; error: AcmeProblemJson | null; now: Date },
): Promise<{ settled: boolean; invalidatedOrders: number }> {
  const unsettled = { settled: false, invalidatedOrders: 0 };
  return manager.transaction(async (tx) => {
    const [challenge] = await tx.query(`SELECT authorization_id FROM acme_challenges WHERE id = $1`, [outcome.challengeId]);
    if (!challenge) return unsettled;
    const authorizationId: string = challenge.authorization_id;
    // The orders first, locked: two authorizations of one order settling at once must not each miss the
    // other's (uncommitted) validity and leave the order pending; the second waits and then sees the first.
    await tx.query(
      `SELECT id FROM acme_orders WHERE id IN (SELECT order_id FROM acme_order_authorizations WHERE authorization_id = $1) ORDER BY id FOR UPDATE`,
      [authorizationId],
    );
    const [rows] = await tx.query(
      `UPDATE acme_challenges SET status = $2, validated = CASE WHEN $2 = 'valid' THEN $3::timestamptz END, error = $4
        WHERE id = $1 AND status = 'processing' RETURNING authorization_id`,
      [outcome.challengeId, outcome.valid ? 'valid' : 'invalid', outcome.now, outcome.error ? JSON.stringify(outcome.error) : null],
    );
    if (!rows.length) return unsettled;
    await tx.query(`UPDATE acme_authorizations SET status = $2 WHERE id = $1 AND status = 'pending'`, [authorizationId, outcome.valid ? 'valid' : 'invalid']);
    if (outcome.valid) {
      await tx.query(
        `UPDATE acme_orders o SET status = 'ready'
          WHERE o.status = 'pending' AND o.id IN (SELECT order_id FROM acme_order_authorizations WHERE authorization_id = $1)
            AND NOT EXISTS (SELECT 1 FROM acme_order_authorizations oa JOIN acme_authorizations a ON a.id = oa.authorization_id
                             WHERE oa.order_id = o.id AND a.status <> 'valid')`,
        [authorizationId],
      );
      return { settled: true, invalidatedOrders: 0 };
    }
    const [invalidated] = await tx.query(
      `UPDATE acme_orders SET status = 'invalid', error = $2
        WHERE status IN ('pending', 'ready') AND id IN (SELECT order_id FROM acme_order_authorizations WHERE authorization_id = $1) RETURNING id`,
      [authorizationId, JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'an authorization of the order failed', subproblems: outcome.error ? [outcome.error] : [] })],
    );
    return { settled: true, invalidatedOrders: invalidated.length };
  });
}

/** A client's deactivation of its authorization (RFC 8555 7.5.2); its pending orders become invalid (how many: the answer). */
export async function deactivateAcmeAuthorization(manager: EntityManager, id: string): Promise<{ deactivated: boolean; invalidatedOrders: number }> {
  return manager.transaction(async (tx) => {
    const [rows] = await tx.query(`UPDATE acme_authorizations SET status = 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid') RETURNING id`, [id]);
    if (!rows.length) return { deactivated: false, invalidatedOrders: 0 };
    const [invalidated] = await tx.query(
      `UPDATE acme_orders SET status = 'invalid', error = $2
        WHERE status IN ('pending', 'ready') AND id IN (SELECT order_id FROM acme_order_authorizations WHERE authorization_id = $1) RETURNING id`,
      [id, JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'an authorization of the order was deactivated' })],
    );
    return { deactivated: true, invalidatedOrders: invalidated.length };
  });
}

/** finalize: ready -> processing, once; null when the order was not ready (or is past expires). */
export async function claimAcmeOrderForFinalize(manager: EntityManager, id: string, now: Date): Promise<boolean> {
  const [rows] = await manager.query(`UPDATE acme_orders SET status = 'processing' WHERE id = $1 AND status = 'ready' AND expires > $2 RETURNING id`, [id, now]);
  return rows.length > 0;
}

/** A finalization's end: valid with its certificate, or invalid with the problem. */
export async function settleAcmeOrder(manager: EntityManager, id: string, outcome: { certificateId: string } | { error: AcmeProblemJson }): Promise<void> {
  if ('certificateId' in outcome) {
    await manager.query(`UPDATE acme_orders SET status = 'valid', certificate_id = $2 WHERE id = $1 AND status = 'processing'`, [id, outcome.certificateId]);
  } else {
    await manager.query(`UPDATE acme_orders SET status = 'invalid', error = $2 WHERE id = $1 AND status = 'processing'`, [id, JSON.stringify(outcome.error)]);
  }
}

/** A finalization whose gateway stopped mid-way: processing for longer than `olderThan` with no certificate. */
export async function reopenStaleAcmeOrder(manager: EntityManager, id: string, olderThan: Date): Promise<void> {
  await manager.query(
    `UPDATE acme_orders SET status = 'ready' WHERE id = $1 AND status = 'processing' AND certificate_id IS NULL AND created_at < $2`,
    [id, olderThan],
  );
}

// ---- certificates, as ACME sees them ----

/** A certificate a Signet CA issued, by serial (unique among those; certificates from elsewhere may share one). */
export function certificateBySerial(manager: EntityManager, serialNumber: string): Promise<CertificateEntity | null> {
  return manager.getRepository(CertificateEntity).findOneBy({ serialNumber, caId: Not(IsNull()) });
}

/** A certificate a Signet CA issued, by fingerprint. */
export function certificateByFingerprint(manager: EntityManager, fingerprintSha256: string): Promise<CertificateEntity | null> {
  return manager.getRepository(CertificateEntity).findOneBy({ fingerprintSha256, caId: Not(IsNull()) });
}

/** Whether the account holds valid authorizations for every one of these identifiers (RFC 8555 7.6: revocation by a third account). */
export async function acmeAccountAuthorizedFor(manager: EntityManager, accountId: string, identifiers: AcmeIdentifier[], now: Date): Promise<boolean> {
  if (!identifiers.length) return false;
  const [row] = await manager.query(
    `SELECT count(DISTINCT identifier_type || ':' || identifier_value)::int AS n FROM acme_authorizations
      WHERE account_id = $1 AND status = 'valid' AND expires > $2 AND (identifier_type || ':' || identifier_value) = ANY($3)`,
    [accountId, now, identifiers.map((i) => `${i.type}:${i.value}`)],
  );
  return row.n === new Set(identifiers.map((i) => `${i.type}:${i.value}`)).size;
}

// ---- MASTER_KEY rotation ----

/** Every EAB key's sealed HMAC key (sealed to the transport key MASTER_KEY derives): few rows, read at once. */
export async function sealedAcmeEabKeys(manager: EntityManager): Promise<{ id: string; encryptedKey: Buffer }[]> {
  const rows: Raw[] = await manager.query(`SELECT id, encrypted_key FROM acme_eab_keys ORDER BY id FOR UPDATE`);
  return rows.map((r) => ({ id: r.id, encryptedKey: r.encrypted_key }));
}

/** Replace one sealed EAB key, if it is still the blob the rotation read; whether it was. */
export async function resealAcmeEabKey(manager: EntityManager, id: string, previous: Buffer, next: Buffer): Promise<boolean> {
  const [, affected] = await manager.query(`UPDATE acme_eab_keys SET encrypted_key = $3 WHERE id = $1 AND encrypted_key = $2`, [id, previous, next]);
  return affected === 1;
}
