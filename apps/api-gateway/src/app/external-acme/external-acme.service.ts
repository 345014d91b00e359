/**
 * Obtaining from outside ACME CAs (API.md section 8), the request side: accounts (made at the CA with a
 * key the gateway generates and keeps encrypted in its secret box; EAB for CAs that need it), orders
 * (checked, stored, and handed to the order queue: 202), renewals through the same account, and
 * revocation at the CA. DNS provider credentials are checked field by field, stored encrypted once per
 * order or renewal method, and never returned, logged or audited (audit events name the provider type).
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CertificateEntity, ExternalAcmeAccountRow, ExternalAcmeChallengeType, ExternalAcmeOrderRow, deactivateExternalAcmeAccount, dnsCredentialsById, externalAcmeAccountById,
  externalAcmeAccountInOrg, externalAcmeAccountsOfOrg, externalAcmeOrderInOrg, externalAcmeRenewalOf, insertDnsCredentials, insertExternalAcmeAccount,
  insertExternalAcmeOrder, lockedCertificate, markCertificateRevoked, openRenewalOrder, setExternalAcmeRenewal,
} from '@signet/persistence';
import { PkiError, RevocationReason, REVOCATION_REASONS, exportPrivateKeyPem, generateKeyPair, normalizeDnsName, toPem } from '@signet/pki';
import { ApiError, Clock } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { OrgCaller } from '../access/caller';
import type { OrgPrincipal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import { GatewaySecretBox } from '../gateway-secrets';
import type { GatewayConfig } from '../gateway.config';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { DnsProviderConfig, validateDnsProviderConfig } from './dns-providers';
import { execCommandsOf } from './external-acme.config';
import { CreateAcmeAccountDto, ObtainCertificateDto, RenewWithDto, acmeAccountView, acmeOrderView } from './external-acme.dto';
import { ExternalAcmeOrders } from './external-acme-orders.queue';
import { accountKeyBinding, dnsCredentialsBinding, outsideAcmeClient, outsideAcmeErrorOf } from './outside-acme-client';

const ACCOUNT_KEY_ALGORITHM = 'ECDSA-P256';

/** How a certificate from elsewhere is to be renewed through an outside account, checked and not yet stored. */
export interface RenewalMethod {
  accountId: string;
  challengeType: ExternalAcmeChallengeType;
  dnsProvider: DnsProviderConfig | null;
}

/** Staging directories Signet knows, by production directory (used for dryRun when the account names none). */
const KNOWN_STAGING: Record<string, string> = {
  'https://acme-v02.api.letsencrypt.org/directory': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

@Injectable()
export class ExternalAcmeService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly box: GatewaySecretBox,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly orders: ExternalAcmeOrders,
  ) {}

  async createAccount(caller: OrgCaller, dto: CreateAcmeAccountDto) {
    const id = randomUUID();
    const { privateKey } = await generateKeyPair(ACCOUNT_KEY_ALGORITHM);
    const accountKeyPem = exportPrivateKeyPem(privateKey);
    const client = outsideAcmeClient({ directoryUrl: dto.directoryUrl, accountKeyPem, eab: dto.eab });
    try {
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${dto.email}`] });
    } catch (error) {
      const problem = outsideAcmeErrorOf(error, `the ACME directory ${dto.directoryUrl} refused the account`);
      throw ApiError.badRequest(problem.message, { directoryUrl: dto.directoryUrl, problem: problem.problem });
    }
    const row = await this.dataSource.transaction(async (manager) => {
      const inserted = await insertExternalAcmeAccount(manager, {
        id, orgId: caller.principal.orgId, directoryUrl: dto.directoryUrl, stagingDirectoryUrl: dto.stagingDirectoryUrl ?? KNOWN_STAGING[dto.directoryUrl] ?? null,
        email: dto.email, eabKeyId: dto.eab?.keyId ?? null, accountUrl: client.getAccountUrl(), stagingAccountUrl: null, keyAlgorithm: ACCOUNT_KEY_ALGORITHM,
        encryptedAccountKey: this.box.seal(accountKeyPem, accountKeyBinding(id)),
      });
      await this.audit.record(caller, {
        eventType: 'external_acme_account.create', resourceType: 'external_acme_account', resourceId: id,
        details: { directoryUrl: inserted.directoryUrl, email: inserted.email, eabKeyId: inserted.eabKeyId, accountUrl: inserted.accountUrl },
      }, manager);
      return inserted;
    });
    return { acmeAccount: acmeAccountView(row) };
  }

  async listAccounts(principal: OrgPrincipal, q: PageQueryDto) {
    const { rows, total } = await externalAcmeAccountsOfOrg(this.dataSource.manager, principal.orgId, { offset: skipOf(q), limit: q.pageSize });
    return pageOf('acmeAccounts', rows.map(acmeAccountView), total, q);
  }

  async getAccount(principal: OrgPrincipal, id: string) {
    return { acmeAccount: acmeAccountView(await this.account(principal.orgId, id)) };
  }

  /** Deactivated at the CA first (RFC 8555 7.3.6), then here: the CA refuses the account from then on, and so does Signet. */
  async deactivateAccount(caller: OrgCaller, id: string): Promise<void> {
    const account = await this.account(caller.principal.orgId, id);
    if (account.status === 'deactivated') throw new ApiError('conflict', 'this ACME account is deactivated already');
    const client = outsideAcmeClient({ directoryUrl: account.directoryUrl, accountKeyPem: this.accountKeyPem(account), accountUrl: account.accountUrl });
    try {
      await client.updateAccount({ status: 'deactivated' });
    } catch (error) {
      const problem = outsideAcmeErrorOf(error, 'the CA did not deactivate the account');
      throw new ApiError('service_unavailable', problem.message, { problem: problem.problem });
    }
    await this.dataSource.transaction(async (manager) => {
      await deactivateExternalAcmeAccount(manager, id, this.clock.now());
      await this.audit.record(caller, { eventType: 'external_acme_account.deactivate', resourceType: 'external_acme_account', resourceId: id, details: { accountUrl: account.accountUrl } }, manager);
    });
  }

  /** 202: the order is stored and queued; GET /acme-orders/:id follows it. */
  async obtain(caller: OrgCaller, dto: ObtainCertificateDto) {
    const orgId = caller.principal.orgId;
    const domains = this.domainsOf(dto.domains, dto.challengeType);
    const account = await this.validAccount(orgId, dto.acmeAccountId, 'acmeAccountId');
    const dnsProvider = this.dnsProviderOf(dto.challengeType, dto.dnsProvider, 'dnsProvider');
    const id = randomUUID();
    const order = await this.dataSource.transaction(async (manager) => {
      const dnsCredentialsId = dnsProvider ? await this.storeDnsCredentials(manager, orgId, dnsProvider) : null;
      const inserted = await insertExternalAcmeOrder(manager, {
        id, orgId, accountId: account.id, domains, challengeType: dto.challengeType, dnsCredentialsId, keyAlgorithm: dto.keyAlgorithm ?? 'ECDSA-P256',
        autoRenew: dto.autoRenew ?? true, renewalThresholdDays: dto.renewalThresholdDays ?? 30, dryRun: dto.dryRun ?? false, renewsCertificateId: null,
      });
      await this.audit.record(caller, {
        eventType: 'certificate.obtain', resourceType: 'external_acme_order', resourceId: id,
        details: { acmeAccountId: account.id, domains, challengeType: dto.challengeType, dnsProvider: dnsProvider?.type ?? null, dryRun: inserted.dryRun },
      }, manager);
      return inserted;
    });
    await this.orders.enqueue(order.id);
    return { order: acmeOrderView(order, dnsProvider?.type ?? null) };
  }

  async getOrder(principal: OrgPrincipal, id: string) {
    const order = await externalAcmeOrderInOrg(this.dataSource.manager, id, principal.orgId);
    if (!order) throw ApiError.notFound('order');
    return { order: await this.orderView(order) };
  }

  /** Renew by API a certificate renewed through an outside account: its renewal order (the running one, if any), 202. */
  async renew(caller: OrgCaller, certificate: CertificateEntity) {
    if (certificate.supersededById) throw new ApiError('conflict', 'this certificate was already renewed', { supersededById: certificate.supersededById });
    const renewal = await externalAcmeRenewalOf(this.dataSource.manager, certificate.id);
    if (!renewal) throw new ApiError('conflict', 'no Signet CA issued this certificate and it has no outside ACME account to renew through (import it with renewWith)');
    await this.validAccount(caller.principal.orgId, renewal.accountId, 'renewWith.acmeAccountId');
    const opened = await this.dataSource.transaction(async (manager) => {
      const result = await openRenewalOrder(manager, certificate.id, randomUUID());
      if (!result) throw new ApiError('conflict', 'this certificate has no outside ACME account to renew through');
      if (result.created) {
        await this.audit.record(caller, {
          eventType: 'certificate.obtain', resourceType: 'external_acme_order', resourceId: result.order.id,
          details: { acmeAccountId: renewal.accountId, domains: result.order.domains, renews: certificate.id },
        }, manager);
      }
      return result.order;
    });
    await this.orders.enqueue(opened.id);
    return { order: await this.orderView(opened) };
  }

  /**
   * Revoke at the outside CA through the account that renews it (RFC 8555 7.6), then mark it here: a
   * 200 means the CA accepted. The CA's refusal (already revoked there, unauthorized) is its own words.
   */
  async revoke(caller: OrgCaller, certificate: CertificateEntity, reason: RevocationReason, comments: string | undefined) {
    if (certificate.status === 'revoked') throw new ApiError('already_revoked', 'certificate is already revoked', { revokedAt: certificate.revokedAt?.toISOString() });
    const renewal = await externalAcmeRenewalOf(this.dataSource.manager, certificate.id);
    const account = renewal ? await externalAcmeAccountInOrg(this.dataSource.manager, renewal.accountId, certificate.orgId) : null;
    if (!account || account.status !== 'valid') {
      throw new ApiError('conflict', 'no Signet CA issued this certificate and no valid outside ACME account of the org can revoke it: remove it from the inventory with DELETE');
    }
    const client = outsideAcmeClient({ directoryUrl: account.directoryUrl, accountKeyPem: this.accountKeyPem(account), accountUrl: account.accountUrl });
    try {
      await client.revokeCertificate(toPem('CERTIFICATE', certificate.certificateDer), { reason: REVOCATION_REASONS[reason] });
    } catch (error) {
      const problem = outsideAcmeErrorOf(error, 'the CA did not revoke the certificate');
      if (problem.problem['type'] === 'urn:ietf:params:acme:error:alreadyRevoked') {
        throw new ApiError('already_revoked', problem.message, { problem: problem.problem });
      }
      throw new ApiError(problem.transient ? 'service_unavailable' : 'conflict', problem.message, { problem: problem.problem });
    }
    await this.dataSource.transaction(async (manager) => {
      const locked = await lockedCertificate(manager, certificate.id);
      if (!locked || locked.status === 'revoked') return;
      await markCertificateRevoked(manager, certificate.id, { revokedAt: this.clock.now(), reason, comments: comments ?? null });
      await this.audit.record(caller, {
        eventType: 'certificate.revoke', resourceType: 'certificate', resourceId: certificate.id,
        details: { serialNumber: certificate.serialNumber, reason, issuer: certificate.issuerDn, at: account.directoryUrl },
      }, manager);
    });
  }

  /**
   * `renewWith: {acmeAccountId, challengeType?, dnsProvider?}` checked for an import or a PATCH of a
   * certificate from elsewhere with these DNS names: how to renew it, its DNS credentials stored by
   * keepRenewalMethod in the caller's transaction (certificates/renewal-methods.ts chooses between this
   * and a Signet profile).
   */
  async renewalMethod(orgId: string, renewWith: RenewWithDto & { acmeAccountId: string }, sanDns: string[]): Promise<RenewalMethod> {
    const challengeType: ExternalAcmeChallengeType = renewWith.challengeType ?? 'http-01';
    if (!sanDns.length) throw ApiError.validation([{ field: 'renewWith', messages: ['renewWith needs a certificate for DNS names: an ACME CA validates and issues those'] }]);
    this.domainsOf(sanDns, challengeType);
    const account = await this.validAccount(orgId, renewWith.acmeAccountId, 'renewWith.acmeAccountId');
    return { accountId: account.id, challengeType, dnsProvider: this.dnsProviderOf(challengeType, renewWith.dnsProvider, 'renewWith.dnsProvider') };
  }

  /** The certificate is renewed through the method from now on (inside the caller's transaction). */
  async keepRenewalMethod(manager: EntityManager, certificateId: string, method: RenewalMethod): Promise<void> {
    const dnsCredentialsId = method.dnsProvider ? await this.storeDnsCredentials(manager, (await this.orgOfAccount(manager, method.accountId)), method.dnsProvider) : null;
    await setExternalAcmeRenewal(manager, certificateId, { accountId: method.accountId, challengeType: method.challengeType, dnsCredentialsId });
  }

  async renewsThroughAccount(certificateId: string): Promise<boolean> {
    return (await externalAcmeRenewalOf(this.dataSource.manager, certificateId)) !== null;
  }

  /** The names of an order, normalised: each a DNS name (a wildcard only with dns-01), none twice; or 400 naming each bad one. */
  domainsOf(given: string[], challengeType: ExternalAcmeChallengeType): string[] {
    const problems: string[] = [];
    const names: string[] = [];
    for (const name of given) {
      try {
        const normalised = normalizeDnsName(name);
        if (normalised.startsWith('*.') && challengeType !== 'dns-01') problems.push(`${normalised}: a wildcard name is validated over dns-01 only`);
        else if (!normalised.includes('.')) problems.push(`${normalised}: a public CA issues for fully qualified names only`);
        else if (!names.includes(normalised)) names.push(normalised);
      } catch (error) {
        if (!(error instanceof PkiError)) throw error;
        problems.push(error.message);
      }
    }
    if (problems.length) throw ApiError.validation([{ field: 'domains', messages: problems }]);
    return names;
  }

  private dnsProviderOf(challengeType: ExternalAcmeChallengeType, given: Record<string, unknown> | undefined, field: string) {
    if (challengeType !== 'dns-01') {
      if (given !== undefined) throw ApiError.validation([{ field, messages: [`${field} is for challengeType dns-01 only`] }]);
      return null;
    }
    if (given === undefined) throw ApiError.validation([{ field, messages: [`${field} is required for dns-01`] }]);
    const result = validateDnsProviderConfig(given, { execCommands: execCommandsOf(this.config) });
    if ('errors' in result) {
      const prefix = field === 'dnsProvider' ? '' : field.slice(0, -'dnsProvider'.length);
      throw ApiError.validation(result.errors.map((e) => ({ field: `${prefix}${e.field}`, messages: [`${prefix}${e.field} ${e.message}`] })));
    }
    return result.config;
  }

  private async storeDnsCredentials(manager: EntityManager, orgId: string, config: { type: string }): Promise<string> {
    const id = randomUUID();
    await insertDnsCredentials(manager, { id, orgId, providerType: config.type, encryptedConfig: this.box.seal(JSON.stringify(config), dnsCredentialsBinding(id)) });
    return id;
  }

  private async orgOfAccount(manager: EntityManager, accountId: string): Promise<string> {
    const account = await externalAcmeAccountById(manager, accountId);
    if (!account) throw ApiError.notFound('ACME account');
    return account.orgId;
  }

  private async account(orgId: string, id: string): Promise<ExternalAcmeAccountRow> {
    const account = await externalAcmeAccountInOrg(this.dataSource.manager, id, orgId);
    if (!account) throw ApiError.notFound('ACME account');
    return account;
  }

  /** The org's account, valid; else 404 (none) or 400 naming `field` (deactivated). */
  private async validAccount(orgId: string, id: string, field: string): Promise<ExternalAcmeAccountRow> {
    const account = await this.account(orgId, id);
    if (account.status !== 'valid') throw ApiError.validation([{ field, messages: [`the ACME account ${id} is deactivated`] }]);
    return account;
  }

  private accountKeyPem(account: ExternalAcmeAccountRow): string {
    return this.box.open(account.encryptedAccountKey, accountKeyBinding(account.id));
  }

  private async orderView(order: ExternalAcmeOrderRow) {
    const credentials = order.dnsCredentialsId ? await dnsCredentialsById(this.dataSource.manager, order.dnsCredentialsId) : null;
    return acmeOrderView(order, credentials?.providerType ?? null);
  }
}
