/**
 * Obtaining from outside ACME CAs (API.md section 8): an org's accounts at them, DNS provider
 * credentials, the orders the gateways work as jobs, and how a certificate is renewed through an outside
 * account (its `external_acme_*` columns). Secrets arrive here already encrypted by the gateway; nothing
 * here can read them.
 */
import type { EntityManager } from 'typeorm';
import { RENEWAL_DUE_SQL } from './certificates';

export type ExternalAcmeChallengeType = 'http-01' | 'dns-01';
export type ExternalAcmeOrderStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface ExternalAcmeAccountRow {
  id: string;
  orgId: string;
  directoryUrl: string;
  stagingDirectoryUrl: string | null;
  email: string;
  eabKeyId: string | null;
  accountUrl: string;
  stagingAccountUrl: string | null;
  keyAlgorithm: string;
  encryptedAccountKey: Buffer;
  status: 'valid' | 'deactivated';
  createdAt: Date;
  deactivatedAt: Date | null;
}

export interface ExternalAcmeOrderRow {
  id: string;
  orgId: string;
  accountId: string;
  status: ExternalAcmeOrderStatus;
  domains: string[];
  challengeType: ExternalAcmeChallengeType;
  dnsCredentialsId: string | null;
  keyAlgorithm: string;
  autoRenew: boolean;
  renewalThresholdDays: number;
  dryRun: boolean;
  renewsCertificateId: string | null;
  certificateId: string | null;
  orderUrl: string | null;
  /** An RFC 7807 problem (the outside CA's own, or Signet's): `{type?, detail, status?, subproblems?}`. */
  error: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DnsCredentialsRow {
  id: string;
  orgId: string;
  providerType: string;
  encryptedConfig: Buffer;
}

/** How a certificate is renewed through an outside ACME account. */
export interface ExternalAcmeRenewal {
  accountId: string;
  challengeType: ExternalAcmeChallengeType;
  dnsCredentialsId: string | null;
}

type Raw = Record<string, any>;

const accountOf = (r: Raw): ExternalAcmeAccountRow => ({
  id: r.id, orgId: r.org_id, directoryUrl: r.directory_url, stagingDirectoryUrl: r.staging_directory_url, email: r.email, eabKeyId: r.eab_key_id,
  accountUrl: r.account_url, stagingAccountUrl: r.staging_account_url, keyAlgorithm: r.key_algorithm, encryptedAccountKey: r.encrypted_account_key,
  status: r.status, createdAt: r.created_at, deactivatedAt: r.deactivated_at,
});

const orderOf = (r: Raw): ExternalAcmeOrderRow => ({
  id: r.id, orgId: r.org_id, accountId: r.account_id, status: r.status, domains: r.domains, challengeType: r.challenge_type, dnsCredentialsId: r.dns_credentials_id,
  keyAlgorithm: r.key_algorithm, autoRenew: r.auto_renew, renewalThresholdDays: r.renewal_threshold_days, dryRun: r.dry_run,
  renewsCertificateId: r.renews_certificate_id, certificateId: r.certificate_id, orderUrl: r.order_url, error: r.error, createdAt: r.created_at, updatedAt: r.updated_at,
});

export type NewExternalAcmeAccount = Omit<ExternalAcmeAccountRow, 'status' | 'createdAt' | 'deactivatedAt'>;

export async function insertExternalAcmeAccount(manager: EntityManager, a: NewExternalAcmeAccount): Promise<ExternalAcmeAccountRow> {
  const [row] = await manager.query(
    `INSERT INTO external_acme_accounts (id, org_id, directory_url, staging_directory_url, email, eab_key_id, account_url, staging_account_url, key_algorithm, encrypted_account_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [a.id, a.orgId, a.directoryUrl, a.stagingDirectoryUrl, a.email, a.eabKeyId, a.accountUrl, a.stagingAccountUrl, a.keyAlgorithm, a.encryptedAccountKey],
  );
  return accountOf(row);
}

/** The org's accounts, newest first, a page of them. */
export async function externalAcmeAccountsOfOrg(manager: EntityManager, orgId: string, page: { offset: number; limit: number }): Promise<{ rows: ExternalAcmeAccountRow[]; total: number }> {
  const [rows, [count]] = await Promise.all([
    manager.query(`SELECT * FROM external_acme_accounts WHERE org_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`, [orgId, page.limit, page.offset]),
    manager.query(`SELECT count(*)::int AS n FROM external_acme_accounts WHERE org_id = $1`, [orgId]),
  ]);
  return { rows: rows.map(accountOf), total: count.n };
}

/** The org's account of this id (any status); null when there is none or it is another org's. */
export async function externalAcmeAccountInOrg(manager: EntityManager, id: string, orgId: string): Promise<ExternalAcmeAccountRow | null> {
  const [row] = await manager.query(`SELECT * FROM external_acme_accounts WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return row ? accountOf(row) : null;
}

export async function externalAcmeAccountById(manager: EntityManager, id: string): Promise<ExternalAcmeAccountRow | null> {
  const [row] = await manager.query(`SELECT * FROM external_acme_accounts WHERE id = $1`, [id]);
  return row ? accountOf(row) : null;
}

/** The account's URL at its staging directory, once it has one there (the first dry run registers it). */
export async function setExternalAcmeStagingAccountUrl(manager: EntityManager, id: string, url: string): Promise<void> {
  await manager.query(`UPDATE external_acme_accounts SET staging_account_url = $2 WHERE id = $1`, [id, url]);
}

/** Deactivated (at the CA, then here); false when it already was. Its certificates stop renewing through it. */
export async function deactivateExternalAcmeAccount(manager: EntityManager, id: string, at: Date): Promise<boolean> {
  const [, affected] = await manager.query(`UPDATE external_acme_accounts SET status = 'deactivated', deactivated_at = $2 WHERE id = $1 AND status = 'valid'`, [id, at]);
  return affected > 0;
}

export async function insertDnsCredentials(manager: EntityManager, c: DnsCredentialsRow): Promise<void> {
  await manager.query(`INSERT INTO external_acme_dns_credentials (id, org_id, provider_type, encrypted_config) VALUES ($1, $2, $3, $4)`, [
    c.id, c.orgId, c.providerType, c.encryptedConfig,
  ]);
}

export async function dnsCredentialsById(manager: EntityManager, id: string): Promise<DnsCredentialsRow | null> {
  const [row] = await manager.query(`SELECT * FROM external_acme_dns_credentials WHERE id = $1`, [id]);
  return row ? { id: row.id, orgId: row.org_id, providerType: row.provider_type, encryptedConfig: row.encrypted_config } : null;
}

export type NewExternalAcmeOrder = Pick<
  ExternalAcmeOrderRow,
  'id' | 'orgId' | 'accountId' | 'domains' | 'challengeType' | 'dnsCredentialsId' | 'keyAlgorithm' | 'autoRenew' | 'renewalThresholdDays' | 'dryRun' | 'renewsCertificateId'
>;

export async function insertExternalAcmeOrder(manager: EntityManager, o: NewExternalAcmeOrder): Promise<ExternalAcmeOrderRow> {
  const [row] = await manager.query(
    `INSERT INTO external_acme_orders (id, org_id, account_id, domains, challenge_type, dns_credentials_id, key_algorithm, auto_renew, renewal_threshold_days, dry_run, renews_certificate_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
    [o.id, o.orgId, o.accountId, o.domains, o.challengeType, o.dnsCredentialsId, o.keyAlgorithm, o.autoRenew, o.renewalThresholdDays, o.dryRun, o.renewsCertificateId],
  );
  return orderOf(row);
}

/**
 * The renewal order of a certificate through its outside account: a new one (`id`) with the
 * certificate's names, key algorithm, challenge and settings, or the one already pending or running
 * (one at a time: a unique index). Null when the certificate has no outside account to renew through.
 */
export async function openRenewalOrder(manager: EntityManager, certificateId: string, id: string): Promise<{ order: ExternalAcmeOrderRow; created: boolean } | null> {
  const [inserted] = await manager.query(
    `INSERT INTO external_acme_orders (id, org_id, account_id, domains, challenge_type, dns_credentials_id, key_algorithm, auto_renew, renewal_threshold_days, dry_run, renews_certificate_id)
     SELECT $2, c.org_id, c.external_acme_account_id, c.san_dns, c.external_acme_challenge_type, c.external_acme_dns_credentials_id,
            CASE WHEN c.key_algorithm IN ('ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096') THEN c.key_algorithm ELSE 'ECDSA-P256' END,
            c.auto_renew, c.renewal_threshold_days, false, c.id
       FROM certificates c WHERE c.id = $1 AND c.external_acme_account_id IS NOT NULL
     ON CONFLICT (renews_certificate_id) WHERE status IN ('pending', 'processing') DO NOTHING
     RETURNING *`,
    [certificateId, id],
  );
  if (inserted) return { order: orderOf(inserted), created: true };
  const [open] = await manager.query(`SELECT * FROM external_acme_orders WHERE renews_certificate_id = $1 AND status IN ('pending', 'processing')`, [certificateId]);
  return open ? { order: orderOf(open), created: false } : null;
}

export async function externalAcmeOrderInOrg(manager: EntityManager, id: string, orgId: string): Promise<ExternalAcmeOrderRow | null> {
  const [row] = await manager.query(`SELECT * FROM external_acme_orders WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return row ? orderOf(row) : null;
}

export async function externalAcmeOrderById(manager: EntityManager, id: string): Promise<ExternalAcmeOrderRow | null> {
  const [row] = await manager.query(`SELECT * FROM external_acme_orders WHERE id = $1`, [id]);
  return row ? orderOf(row) : null;
}

/** The order's progress: processing (with the CA's order URL once known), then valid (its certificate, unless a dry run) or invalid (why). */
export async function updateExternalAcmeOrder(
  manager: EntityManager,
  id: string,
  change: { status: ExternalAcmeOrderStatus; orderUrl?: string; certificateId?: string | null; error?: Record<string, unknown> | null },
): Promise<void> {
  await manager.query(
    `UPDATE external_acme_orders SET status = $2, order_url = COALESCE($3, order_url), certificate_id = COALESCE($4, certificate_id), error = $5, updated_at = now() WHERE id = $1`,
    [id, change.status, change.orderUrl ?? null, change.certificateId ?? null, change.error ? JSON.stringify(change.error) : null],
  );
}

/** The certificate is (also) renewed through this outside account from now on. */
export async function setExternalAcmeRenewal(manager: EntityManager, certificateId: string, renewal: ExternalAcmeRenewal): Promise<void> {
  await manager.query(
    // One way to renew: through the account, no longer under a profile (certificates_renew_under_profile).
    `UPDATE certificates SET external_acme_account_id = $2, external_acme_challenge_type = $3, external_acme_dns_credentials_id = $4, renew_profile_id = NULL WHERE id = $1`,
    [certificateId, renewal.accountId, renewal.challengeType, renewal.dnsCredentialsId],
  );
}

/** How the certificate is renewed through an outside account; null when it is not. */
export async function externalAcmeRenewalOf(manager: EntityManager, certificateId: string): Promise<ExternalAcmeRenewal | null> {
  const [row] = await manager.query(
    `SELECT external_acme_account_id, external_acme_challenge_type, external_acme_dns_credentials_id FROM certificates WHERE id = $1 AND external_acme_account_id IS NOT NULL`,
    [certificateId],
  );
  return row ? { accountId: row.external_acme_account_id, challengeType: row.external_acme_challenge_type, dnsCredentialsId: row.external_acme_dns_credentials_id } : null;
}

/**
 * Certificates the renewal sweep hands to the gateways' outside-ACME queue now, soonest expiry first:
 * due by the one rule (RENEWAL_DUE_SQL), renewed through a valid outside account, with no renewal
 * order pending or running, and not before the next attempt a failed one set (outside CAs limit failed
 * validations: Let's Encrypt allows 5 an hour per account and name).
 */
export async function externalAcmeCertificatesDueForRenewal(manager: EntityManager, limit: number): Promise<{ id: string; orgId: string }[]> {
  const rows: { id: string; org_id: string }[] = await manager.query(
    `SELECT c.id, c.org_id FROM certificates c
       JOIN external_acme_accounts a ON a.id = c.external_acme_account_id AND a.status = 'valid'
      WHERE ${RENEWAL_DUE_SQL}
        AND NOT EXISTS (SELECT 1 FROM external_acme_orders o WHERE o.renews_certificate_id = c.id AND o.status IN ('pending', 'processing'))
        AND (c.renewal_status <> 'failed' OR c.renewal_next_attempt_at IS NULL OR c.renewal_next_attempt_at <= now())
      ORDER BY c.valid_to LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, orgId: r.org_id }));
}
