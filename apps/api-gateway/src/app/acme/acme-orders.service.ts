/**
 * ACME orders (RFC 8555 7.4-7.5): newOrder (names checked against the profile by the signer's policy,
 * valid authorizations of the account reused), authorizations and their challenges, finalize (one
 * issuance through the signer under the profile), and the certificate download.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  AcmeAccountRow, AcmeAuthorizationRow, AcmeChallengeRow, AcmeChallengeType, AcmeIdentifier, AcmeOrderRow, NewAcmeAuthorization,
  acmeAuthorizationById, acmeAuthorizationsByIds, acmeChallengeById, acmeOrderById, acmeOrderIdsOfAccount, certificatesById,
  claimAcmeOrderForFinalize, deactivateAcmeAuthorization, effectiveAuthorizationStatus, effectiveOrderStatus, insertAcmeOrder,
  isUniqueViolation, reopenStaleAcmeOrder, reusableAcmeAuthorizations, settleAcmeOrder, startAcmeChallenge, IssuedRow,
} from '@signet/persistence';
import { normalizeDnsName, normalizeIp, parseCsr, toPem } from '@signet/pki';
import { IssueCertificateJob } from '@signet/queue';
import { ApiError, Clock, IssuanceBatcher } from '@signet/service';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { CasService } from '../cas/cas.service';
import { certificatePem } from '../certificates/certificate.view';
import { IssuanceService } from '../certificates/issuance.service';
import { acmeOrders } from '../gateway-metrics';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import type { AcmeDirectory } from './acme-directory';
import { VerifiedJws } from './acme-jws';
import { AcmeProblem, storedProblem } from './acme-problem';
import { AcmeRateLimits } from './acme-rate-limits';
import { AcmeRenewalInfo } from './acme-renewal-info';
import { AcmeValidationQueue } from './acme-validation.queue';

const DAY_MS = 86_400_000;
const MAX_IDENTIFIERS = 100;
/** A finalization still processing after this long lost its gateway: the order may be finalized again. */
const STALE_PROCESSING_MS = 5 * 60_000;

export interface NewOrderPayload {
  identifiers?: unknown;
  notBefore?: unknown;
  notAfter?: unknown;
  replaces?: unknown;
}

/** The order object of RFC 8555 7.1.3. */
export function orderView(directory: AcmeDirectory, order: AcmeOrderRow, now: Date) {
  const status = effectiveOrderStatus(order, now);
  return {
    status,
    expires: order.expires.toISOString(),
    identifiers: order.identifiers,
    ...(order.notBefore ? { notBefore: order.notBefore.toISOString() } : {}),
    ...(order.notAfter ? { notAfter: order.notAfter.toISOString() } : {}),
    authorizations: order.authorizationIds.map(directory.authorizationUrl),
    finalize: directory.finalizeUrl(order.id),
    ...(order.certificateId && status === 'valid' ? { certificate: directory.certificateUrl(order.certificateId) } : {}),
    ...(order.error ? { error: order.error } : status === 'invalid' ? { error: storedProblem('unauthorized', 'the order expired before it was finalized') } : {}),
  };
}

export function challengeView(directory: AcmeDirectory, challenge: AcmeChallengeRow) {
  return {
    type: challenge.type,
    url: directory.challengeUrl(challenge.id),
    status: challenge.status,
    token: challenge.token,
    ...(challenge.validated ? { validated: challenge.validated.toISOString() } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}

/** The authorization object of RFC 8555 7.1.4 (a wildcard's identifier without its "*."). */
export function authorizationView(directory: AcmeDirectory, authz: AcmeAuthorizationRow, now: Date) {
  const status = effectiveAuthorizationStatus(authz, now);
  // A valid authorization lists the challenge that made it so; a pending one every challenge offered.
  const challenges = status === 'valid' ? authz.challenges.filter((c) => c.status === 'valid') : authz.challenges;
  return {
    identifier: authz.identifier,
    status,
    expires: authz.expires.toISOString(),
    challenges: challenges.map((c) => challengeView(directory, c)),
    ...(authz.wildcard ? { wildcard: true } : {}),
  };
}

/** An identifier as the order will hold it (normalized), or the problem with it. */
function identifierOf(value: unknown, allowIp: boolean): AcmeIdentifier & { wildcard: boolean } {
  if (typeof value !== 'object' || value === null) throw new AcmeProblem('malformed', 'each identifier is an object {type, value}');
  const { type, value: name } = value as { type?: unknown; value?: unknown };
  if (typeof name !== 'string' || name.length > 253) throw new AcmeProblem('malformed', 'an identifier value is a string of at most 253 characters');
  if (type === 'dns') {
    let normalized: string;
    try {
      normalized = normalizeDnsName(name);
    } catch (error) {
      throw new AcmeProblem('rejectedIdentifier', `"${name.slice(0, 100)}" is not a DNS name this CA issues for: ${(error as Error).message}`.slice(0, 300));
    }
    return { type: 'dns', value: normalized, wildcard: normalized.startsWith('*.') };
  }
  if (type === 'ip') {
    if (!allowIp) throw new AcmeProblem('rejectedIdentifier', 'this profile does not issue for IP addresses');
    try {
      return { type: 'ip', value: normalizeIp(name), wildcard: false };
    } catch {
      throw new AcmeProblem('malformed', `"${name.slice(0, 100)}" is not an IP address`);
    }
  }
  throw new AcmeProblem('unsupportedIdentifier', `identifier type "${String(type).slice(0, 20)}" is not supported (dns and ip are)`);
}

/** Four eyes cannot be had over ACME: an order would wait for a person no ACME client waits for. */
function refuseIfApprovalRequired(directory: AcmeDirectory): void {
  if (directory.profile.requireApproval) {
    throw new AcmeProblem('unauthorized', 'this profile requires an approval for every certificate, which ACME cannot wait for: request it with POST /api/v1/certificates');
  }
}

const challengeTypesFor = (identifier: AcmeIdentifier & { wildcard: boolean }): AcmeChallengeType[] =>
  identifier.wildcard ? ['dns-01'] : identifier.type === 'ip' ? ['http-01', 'tls-alpn-01'] : ['http-01', 'dns-01', 'tls-alpn-01'];

@Injectable()
export class AcmeOrdersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly clock: Clock,
    private readonly issuance: IssuanceService,
    private readonly batcher: IssuanceBatcher<IssuedRow>,
    private readonly cas: CasService,
    private readonly validations: AcmeValidationQueue,
    private readonly limits: AcmeRateLimits,
    private readonly renewalInfo: AcmeRenewalInfo,
  ) {}

  async newOrder(directory: AcmeDirectory, request: VerifiedJws<NewOrderPayload>, ip: string): Promise<AcmeOrderRow> {
    const account = request.account!;
    refuseIfApprovalRequired(directory);
    const payload = request.payload;
    if (typeof payload !== 'object' || payload === null) throw new AcmeProblem('malformed', 'newOrder takes a JSON object with "identifiers"');
    if (!Array.isArray(payload.identifiers) || !payload.identifiers.length || payload.identifiers.length > MAX_IDENTIFIERS) {
      throw new AcmeProblem('malformed', `identifiers is a list of 1 to ${MAX_IDENTIFIERS} identifiers`);
    }
    if (payload.notBefore !== undefined || payload.notAfter !== undefined) {
      throw new AcmeProblem('malformed', 'this CA sets validity from the profile: omit notBefore and notAfter');
    }
    const identifiers = payload.identifiers.map((i) => identifierOf(i, directory.profile.allowIpSans));
    const unique = [...new Map(identifiers.map((i) => [`${i.type}:${i.value}`, i])).values()];
    await this.limits.newOrder(account.id, ip);
    await this.checkPolicy(directory, account, unique);
    const replaces = payload.replaces === undefined ? null : await this.renewalInfo.replaceable(account, payload.replaces);

    const now = this.clock.now();
    // An authorization names a wildcard's base domain (RFC 8555 7.1.4), so reuse is looked up by that.
    const authorized = (i: (typeof unique)[number]) => ({ type: i.type, value: i.wildcard ? i.value.slice(2) : i.value, wildcard: i.wildcard });
    const reusable = await reusableAcmeAuthorizations(this.dataSource.manager, account.id, unique.map(authorized), new Date(now.getTime() + 60_000));
    const fresh: NewAcmeAuthorization[] = [];
    const authorizationIds = unique.map((identifier) => {
      const key = authorized(identifier);
      const reused = reusable.get(`${key.type}:${key.value}:${key.wildcard}`);
      if (reused) return reused;
      const authz: NewAcmeAuthorization = {
        id: randomUUID(),
        identifier: { type: identifier.type, value: identifier.wildcard ? identifier.value.slice(2) : identifier.value },
        wildcard: identifier.wildcard,
        expires: new Date(now.getTime() + this.config.ACME_AUTHZ_DAYS * DAY_MS),
        challenges: challengeTypesFor(identifier).map((type) => ({ id: randomUUID(), type, token: randomBytes(32).toString('base64url') })),
      };
      fresh.push(authz);
      return authz.id;
    });
    try {
      const order = await insertAcmeOrder(this.dataSource.manager, {
        id: randomUUID(), accountId: account.id, status: fresh.length ? 'pending' : 'ready',
        identifiers: unique.map(({ type, value }) => ({ type, value })), notBefore: null, notAfter: null,
        expires: new Date(now.getTime() + this.config.ACME_ORDER_DAYS * DAY_MS), replacesCertificateId: replaces, authorizationIds,
      }, fresh);
      acmeOrders.inc({ status: 'created' });
      return order;
    } catch (error) {
      if (replaces && isUniqueViolation(error)) throw new AcmeProblem('alreadyReplaced', 'another order already replaces that certificate');
      throw error;
    }
  }

  /** The profile's rules, as the signer's policy module applies them, before any challenge is offered. */
  private async checkPolicy(directory: AcmeDirectory, account: AcmeAccountRow, identifiers: (AcmeIdentifier & { wildcard: boolean })[]) {
    const job = this.issuanceJob(directory, account, `acme-check-${randomUUID()}`, identifiers, null, null);
    try {
      await this.issuance.check({ ...job, mode: 'managed' });
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'policy_violation' || error.code === 'validation_failed')) {
        const rule = typeof error.details?.rule === 'string' ? ` (rule ${error.details.rule})` : '';
        throw new AcmeProblem('rejectedIdentifier', `the profile does not allow these identifiers${rule}: ${error.message}`.slice(0, 500));
      }
      if (error instanceof ApiError && error.code === 'ca_unavailable') throw new AcmeProblem('serverInternal', `the profile's CA cannot issue: ${error.message}`, { status: 503 });
      throw error;
    }
  }

  private issuanceJob(
    directory: AcmeDirectory, account: AcmeAccountRow, issuanceKey: string, identifiers: AcmeIdentifier[], csrPem: string | null, commonName: string | null,
  ): IssueCertificateJob {
    const dns = identifiers.filter((i) => i.type === 'dns').map((i) => i.value);
    const ip = identifiers.filter((i) => i.type === 'ip').map((i) => i.value);
    return {
      issuanceKey, certificateId: randomUUID(), orgId: directory.org.id, caId: directory.profile.caId, profileId: directory.profile.id,
      mode: csrPem ? 'csr' : 'managed', ...(csrPem ? { csrPem } : {}),
      commonName: commonName ?? dns[0] ?? ip[0], sans: { dns, ip, email: [], uri: [] },
      autoRenew: false, renewalThresholdDays: 30, storeKey: false, acmeAccountId: account.id,
      notes: `ACME account ${account.id}`,
      actor: { type: 'acmeAccount', id: account.id, name: `acme:${directory.profile.slug}`, ip: null },
    };
  }

  async order(directory: AcmeDirectory, account: AcmeAccountRow, orderId: string): Promise<AcmeOrderRow> {
    const order = await acmeOrderById(this.dataSource.manager, orderId);
    if (!order || order.accountId !== account.id) throw new AcmeProblem('malformed', 'no order of this account has that URL', { status: 404 });
    if (order.status === 'processing' && !order.certificateId) {
      await reopenStaleAcmeOrder(this.dataSource.manager, order.id, new Date(this.clock.now().getTime() - STALE_PROCESSING_MS));
    }
    return order;
  }

  async orders(account: AcmeAccountRow, page: number): Promise<{ ids: string[]; more: boolean }> {
    const ids = await acmeOrderIdsOfAccount(this.dataSource.manager, account.id, (page - 1) * 100, 101);
    return { ids: ids.slice(0, 100), more: ids.length > 100 };
  }

  async authorization(account: AcmeAccountRow, id: string, deactivate: boolean): Promise<AcmeAuthorizationRow> {
    let authz = await acmeAuthorizationById(this.dataSource.manager, id);
    if (!authz || authz.accountId !== account.id) throw new AcmeProblem('malformed', 'no authorization of this account has that URL', { status: 404 });
    if (deactivate) {
      const status = effectiveAuthorizationStatus(authz, this.clock.now());
      if (status !== 'pending' && status !== 'valid') throw new AcmeProblem('malformed', `a ${status} authorization cannot be deactivated`);
      acmeOrders.inc({ status: 'invalid' }, (await deactivateAcmeAuthorization(this.dataSource.manager, id)).invalidatedOrders);
      authz = (await acmeAuthorizationById(this.dataSource.manager, id))!;
    }
    return authz;
  }

  /** POST to a challenge: `{}` starts its validation (once); POST-as-GET reads it. */
  async challenge(account: AcmeAccountRow, id: string, respond: boolean): Promise<{ challenge: AcmeChallengeRow; authorizationId: string }> {
    const challenge = await acmeChallengeById(this.dataSource.manager, id);
    const authz = challenge ? await acmeAuthorizationById(this.dataSource.manager, challenge.authorizationId) : null;
    if (!challenge || !authz || authz.accountId !== account.id) throw new AcmeProblem('malformed', 'no challenge of this account has that URL', { status: 404 });
    if (respond && (await startAcmeChallenge(this.dataSource.manager, id, this.clock.now()))) {
      await this.validations.enqueue(challenge.id);
      return { challenge: (await acmeChallengeById(this.dataSource.manager, id))!, authorizationId: authz.id };
    }
    return { challenge, authorizationId: authz.id };
  }

  /** finalize (RFC 8555 7.4): the CSR must name exactly the order's identifiers; the profile decides the rest. */
  async finalize(directory: AcmeDirectory, request: VerifiedJws<{ csr?: unknown }>, orderId: string, ip: string): Promise<AcmeOrderRow> {
    const account = request.account!;
    const order = await this.order(directory, account, orderId);
    const now = this.clock.now();
    const status = effectiveOrderStatus(order, now);
    if (status !== 'ready') throw new AcmeProblem('orderNotReady', `the order is ${status}, not ready: ${status === 'pending' ? 'complete its authorizations first' : 'it cannot be finalized again'}`);
    const csrText = request.payload?.csr;
    if (typeof csrText !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csrText) || csrText.length > 16_000) throw new AcmeProblem('malformed', 'finalize takes {"csr": base64url DER}');
    const csrPem = toPem('CERTIFICATE REQUEST', Buffer.from(csrText, 'base64url'));
    const csr = await parseCsr(csrPem).catch((error: Error) => {
      throw new AcmeProblem('badCSR', `the CSR cannot be used: ${error.message}`.slice(0, 300));
    });
    const wanted = new Set(order.identifiers.map((i) => `${i.type}:${i.value}`));
    const named = new Set([...csr.sanDns.map((n) => `dns:${n.toLowerCase()}`), ...csr.sanIp.map((n) => `ip:${n}`)]);
    if (csr.commonName) {
      const cn = csr.commonName.toLowerCase();
      if (!wanted.has(`dns:${cn}`) && !wanted.has(`ip:${cn}`)) throw new AcmeProblem('badCSR', `the CSR's common name ${cn.slice(0, 100)} is not an identifier of the order`);
    }
    const missing = [...wanted].filter((n) => !named.has(n) && !(csr.commonName && n.endsWith(`:${csr.commonName.toLowerCase()}`)));
    const extra = [...named].filter((n) => !wanted.has(n));
    if (missing.length || extra.length) {
      throw new AcmeProblem('badCSR', `the CSR must name exactly the order's identifiers (${[...missing.map((n) => `missing ${n}`), ...extra.map((n) => `not in the order ${n}`)].join(', ')})`.slice(0, 500));
    }
    refuseIfApprovalRequired(directory);
    if (!(await claimAcmeOrderForFinalize(this.dataSource.manager, order.id, now))) throw new AcmeProblem('orderNotReady', 'the order is being finalized or was finalized already');
    const job = this.issuanceJob(directory, account, `acme-order-${order.id}`, order.identifiers, csrPem, csr.commonName?.toLowerCase() ?? null);
    job.actor.ip = ip;
    try {
      const issued = await this.batcher.issue(job);
      await settleAcmeOrder(this.dataSource.manager, order.id, { certificateId: issued.row.id });
      acmeOrders.inc({ status: 'valid' });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500 || error.code === 'ca_unavailable') {
        // The signer or a store was away: the order is ready again, and the client may retry.
        await reopenStaleAcmeOrder(this.dataSource.manager, order.id, new Date(now.getTime() + 1));
        throw error instanceof ApiError ? new AcmeProblem('serverInternal', error.message, { status: error.status >= 500 ? error.status : 503 }) : error;
      }
      const problem = storedProblem(error.code === 'policy_violation' ? 'rejectedIdentifier' : 'badCSR', error.message.slice(0, 500));
      await settleAcmeOrder(this.dataSource.manager, order.id, { error: problem });
      acmeOrders.inc({ status: 'invalid' });
      throw new AcmeProblem(error.code === 'policy_violation' ? 'rejectedIdentifier' : 'badCSR', error.message.slice(0, 500));
    }
    return (await acmeOrderById(this.dataSource.manager, order.id))!;
  }

  /** The certificate and its issuers, PEM (application/pem-certificate-chain). */
  async certificateChain(directory: AcmeDirectory, account: AcmeAccountRow, certificateId: string): Promise<string> {
    const row = (await certificatesById(this.dataSource.manager, [certificateId])).get(certificateId);
    if (!row || !row.caId || row.acmeAccountId !== account.id) throw new AcmeProblem('malformed', 'no certificate of this account has that URL', { status: 404 });
    const chain = await this.cas.chainInOrg(directory.org.id, row.caId);
    // The root is the relying party's trust anchor, not part of what a server presents.
    return certificatePem(row) + chain.slice(0, Math.max(0, chain.length - 1)).join('');
  }

  async authorizations(ids: string[]): Promise<AcmeAuthorizationRow[]> {
    return acmeAuthorizationsByIds(this.dataSource.manager, ids);
  }
}
