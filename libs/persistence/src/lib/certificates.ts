/**
 * Certificate rows as the signer and the gateway read and change them after issuance wrote them
 * (insert-certificates.ts): what an issuance key already issued, a renewal's claim on the certificate it
 * replaces, a look-up in an org, a revocation's locked read and update, the settings a PATCH changes, a
 * stored key's hand-out, and the renewal sweep's due list. (Lists and counts: certificate-lists.ts.)
 */
import { EntityManager, In, IsNull } from 'typeorm';
import { CertificateAuthorityEntity, CertificateEntity, ProfileEntity, RevocationReasonName } from './entities';

/**
 * The certificates already issued under these issuance keys (a retried job's), by key: one query for a
 * whole job, which finds nothing nearly always; only what it finds is read whole.
 */
export async function certificatesByIssuanceKey(manager: EntityManager, keys: string[]): Promise<Map<string, CertificateEntity>> {
  const found: { id: string; issuance_key: string }[] = await manager.query(
    `SELECT id, issuance_key FROM certificates WHERE issuance_key = ANY($1)`,
    [keys],
  );
  if (!found.length) return new Map();
  const rows = await manager.getRepository(CertificateEntity).findBy({ id: In(found.map((r) => r.id)) });
  return new Map(rows.map((row) => [row.issuanceKey as string, row]));
}

/**
 * A renewal's claim on the certificate it replaces: sets its supersededById to the renewal, only if no
 * renewal claimed it before. False when it was already renewed (or is not the org's): the renewal must
 * not commit. Inside the renewal's transaction.
 */
export async function claimForRenewal(manager: EntityManager, claim: { renewedFromId: string; orgId: string; renewalId: string }): Promise<boolean> {
  const old = await manager.getRepository(CertificateEntity).update(
    { id: claim.renewedFromId, orgId: claim.orgId, supersededById: IsNull() },
    { supersededById: claim.renewalId },
  );
  return !!old.affected;
}

/** The org's certificate of this id; null when there is none (or it is another org's). */
export function certificateInOrg(manager: EntityManager, id: string, orgId: string): Promise<CertificateEntity | null> {
  return manager.getRepository(CertificateEntity).findOneBy({ id, orgId });
}

/** The certificate, its row locked (FOR UPDATE) until `manager`'s transaction ends: a revocation's view of it. */
export function lockedCertificate(manager: EntityManager, id: string): Promise<CertificateEntity | null> {
  return manager.getRepository(CertificateEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
}

/** What a revocation changes on a certificate row (inside the revocation's transaction). */
export async function markCertificateRevoked(
  manager: EntityManager,
  id: string,
  revocation: { revokedAt: Date; reason: RevocationReasonName; comments: string | null },
): Promise<void> {
  await manager.getRepository(CertificateEntity).update(
    { id },
    { status: 'revoked', revokedAt: revocation.revokedAt, revocationReason: revocation.reason, revocationComments: revocation.comments },
  );
}

/** What `PATCH /certificates/:id` may change on a certificate. */
export type CertificateSettings = Partial<Pick<CertificateEntity, 'autoRenew' | 'renewalThresholdDays' | 'notes'>>;

/** Change the certificate's settings (inside `manager`'s transaction when it has one); nothing to change: no statement. */
export async function updateCertificateSettings(manager: EntityManager, id: string, changes: CertificateSettings): Promise<void> {
  if (Object.keys(changes).length) await manager.getRepository(CertificateEntity).update({ id }, changes);
}

export type StoredKeyRow = Pick<CertificateEntity, 'id' | 'orgId' | 'encryptedKey' | 'serialNumber'>;

/** The org's certificate's stored (encrypted) private key and what its hand-out's audit event names; only those columns. */
export function storedKeyOf(manager: EntityManager, id: string, orgId: string): Promise<StoredKeyRow | null> {
  return manager.getRepository(CertificateEntity).findOne({
    select: { id: true, orgId: true, encryptedKey: true, serialNumber: true },
    where: { id, orgId },
  });
}

/**
 * When a certificate (alias `c`) is due for automatic renewal, the one rule for the sweep's Signet CAs
 * and outside ACME CAs alike: autoRenew, active, not yet renewed, still valid, and within
 * renewalThresholdDays of validTo, but never earlier than half its lifetime before validTo (a
 * certificate no longer than its threshold would otherwise be due again the moment it is renewed, and
 * the sweep would renew the chain over and over). renewal-state.ts's nextAttemptAt says the same.
 */
export const RENEWAL_DUE_SQL = `c.auto_renew AND c.status = 'active' AND c.superseded_by_id IS NULL AND c.valid_to > now()
  AND c.valid_to <= now() + LEAST(make_interval(days => c.renewal_threshold_days), (c.valid_to - c.valid_from) / 2)`;

/**
 * Certificates the renewal sweep renews now, soonest expiry first, at most `limit`: autoRenew, active,
 * not yet renewed, inside their renewalThresholdDays, under an active CA the sweep can sign for (no
 * passphrase, not expired), and renewable here (a CSR to re-certify, or a managed key that was kept).
 * A certificate from elsewhere renewed under a profile (renew_profile_id) is due under the profile's CA;
 * a deleted profile still makes it due, so that the refusal is recorded on it rather than nothing happening.
 * `tried`: ids this sweep already went through (a failed one is not taken again in the same sweep).
 */
export function certificatesDueForRenewal(manager: EntityManager, tried: Set<string>, limit: number): Promise<CertificateEntity[]> {
  return manager.getRepository(CertificateEntity).createQueryBuilder('c')
    .leftJoin(ProfileEntity, 'p', 'c.ca_id IS NULL AND p.id = c.renew_profile_id')
    .innerJoin(CertificateAuthorityEntity, 'ca', 'ca.id = COALESCE(c.ca_id, p.ca_id) AND ca.status = :active AND NOT ca.has_passphrase AND ca.valid_to > now()', { active: 'active' })
    .where(RENEWAL_DUE_SQL)
    .andWhere(`(c.mode = 'csr' AND c.csr_der IS NOT NULL OR c.mode = 'managed' AND c.encrypted_key IS NOT NULL OR p.id IS NOT NULL)`)
    .andWhere(tried.size ? 'c.id NOT IN (:...tried)' : 'true', { tried: [...tried] })
    .orderBy('c.valid_to', 'ASC')
    .limit(limit)
    .getMany();
}

/**
 * A certificate from elsewhere is renewed under this Signet profile from now on (`renewWith: {profileId}`),
 * and no longer through an outside ACME account: one way to renew (certificates_renew_under_profile).
 */
export async function setRenewalProfile(manager: EntityManager, certificateId: string, profileId: string): Promise<void> {
  await manager.query(
    `UPDATE certificates SET renew_profile_id = $2, external_acme_account_id = NULL, external_acme_challenge_type = NULL, external_acme_dns_credentials_id = NULL
      WHERE id = $1 AND ca_id IS NULL`,
    [certificateId, profileId],
  );
}

/** Remove a certificate no Signet CA issued from the org's inventory; false when there is no such one. */
export async function deleteCertificateFromElsewhere(manager: EntityManager, id: string, orgId: string): Promise<boolean> {
  const [, affected] = await manager.query(`DELETE FROM certificates WHERE id = $1 AND org_id = $2 AND ca_id IS NULL`, [id, orgId]);
  return affected > 0;
}
