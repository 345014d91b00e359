/**
 * Certificate issuance and reads. The gateway validates and checks what it can cheaply (syntax, the
 * CSR's self-signature, names), then the signer does the issuing; CA keys never come here.
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CertificateCounts, CertificateEntity, CertificateSettings, CertificateScope, ProfileEntity, caInOrg, caNamesOf, certificateCounts, certificateInOrg,
  certificatesPage, findLiveProfile, updateCertificateSettings,
} from '@signet/persistence';
import { exportLegacyPkcs12, exportPkcs12, isPkiError, pemBlocks, normalizeSubjectAltNames, parseRevocationReason, toPem } from '@signet/pki';
import { IssueCertificateJob, RevokeCertificateJob, SIGNER_JOBS, renewalJob, whyRenewalCannotWork } from '@signet/queue';
import { ApiError, SignerClient, apiErrorOfPki, extendedKeyUsageFor } from '@signet/service';
import { idempotently, requestHash } from './idempotency';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { OrgPrincipal, mayOnCa, readableCaIds } from '../access/principal';
import { validItem } from './batch';
import { CasService } from '../cas/cas.service';
import { certificatePem, certificateView } from './certificate.view';
import { IssuanceService, actorOf } from './issuance.service';
import { ApprovalsService } from '../approvals/approvals.service';
import { IssueCertificateDto, leafSubjectOf } from './issue-certificate.dto';
import { CURSOR_KEY_IS_VALID, ListCertificatesQueryDto, cursorQueryOf } from './list-certificates.dto';
import { PatchCertificateDto, RenewCertificateDto, RevokeCertificateDto } from './certificate-actions.dto';
import { AuditService } from '../audit/audit.service';
import { ExternalAcmeService } from '../external-acme/external-acme.service';
import { DeployTargetsService } from '../agents/deploy-targets.service';
import { decodeCursor, encodeCursor, pageOf, skipOf } from '../paging';
import { zip } from './zip';
import { StatsCache } from './stats-cache';
import { RenewalMethods } from './renewal-methods';
import type { OrgCaller } from '../access/caller';

const SAN_FIELDS = { dns: 'sanDns', ip: 'sanIp', email: 'sanEmail', uri: 'sanUri' } as const;

/** status=expiring without expiringInDays: API.md's 30 days. */
const DEFAULT_EXPIRING_DAYS = 30;

/** The request's SANs, normalised; a refusal names the list (sanDns, sanIp, ...) that holds the bad name. */
function subjectAltNamesOf(dto: IssueCertificateDto) {
  const lists = { dns: dto.sanDns, ip: dto.sanIp, email: dto.sanEmail, uri: dto.sanUri };
  try {
    return normalizeSubjectAltNames(lists);
  } catch (error) {
    if (!isPkiError(error)) throw error;
    const culprit = (Object.keys(SAN_FIELDS) as (keyof typeof SAN_FIELDS)[]).find((kind) => {
      try {
        normalizeSubjectAltNames({ [kind]: lists[kind] });
        return false;
      } catch {
        return true;
      }
    });
    throw apiErrorOfPki(error, culprit ? SAN_FIELDS[culprit] : 'sanDns');
  }
}

@Injectable()
export class CertificatesService {
  private readonly logger = new Logger(CertificatesService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signer: SignerClient,
    private readonly cas: CasService,
    private readonly audit: AuditService,
    private readonly issuance: IssuanceService,
    private readonly approvals: ApprovalsService,
    private readonly externalAcme: ExternalAcmeService,
    private readonly deployTargets: DeployTargetsService,
    private readonly renewalMethods: RenewalMethods,
  ) {}

  private readonly statsCache = new StatsCache<CertificateCounts>();

  /**
   * Issue, or with an Idempotency-Key (csr mode only) replay: same key and body within 24 h give the same
   * certificate, also when the retries race; the same key with another body is 422.
   */
  async issue(caller: OrgCaller, dto: IssueCertificateDto, idempotencyKey?: string) {
    if (idempotencyKey === undefined) return this.issueOnce(caller, dto, randomUUID());
    if (dto.mode !== 'csr') throw ApiError.badRequest('Idempotency-Key applies to csr mode only: a managed key cannot be replayed');
    const principal = caller.principal;
    return idempotently(this.dataSource.manager, principal.orgId, idempotencyKey, requestHash(dto), (certificateId) => this.issueOnce(caller, dto, certificateId));
  }

  /** Issue every item, 16 at a time through the queue; failures are reported per index. */
  async batch(caller: OrgCaller, items: Record<string, unknown>[]) {
    const certificates: { index: number; certificate: unknown; privateKey?: string }[] = [];
    const pending: { index: number; approval: unknown }[] = [];
    const errors: { index: number; error: string; code: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next++;
        try {
          const dto = await validItem(items[index]);
          const issued = await this.issueOnce(caller, dto, randomUUID());
          if ('approval' in issued) pending.push({ index, approval: issued.approval });
          else certificates.push({ index, ...issued });
        } catch (error) {
          // An unexpected failure sinks its item only: the items issued before it keep their answers
          // (and managed items their keys, which exist nowhere else).
          if (!(error instanceof ApiError)) this.logger.error({ err: (error as Error).message, index }, 'batch item failed');
          const refusal = error instanceof ApiError ? error : new ApiError('internal', 'internal error: this item may or may not have been issued; list certificates to see');
          errors.push({ index, error: refusal.message, code: refusal.code });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, items.length) }, worker));
    certificates.sort((a, b) => a.index - b.index);
    errors.sort((a, b) => a.index - b.index);
    pending.sort((a, b) => a.index - b.index);
    // Items under a profile that requires approval wait in `pending` (neither issued nor failed).
    return { total: items.length, successful: certificates.length, failed: errors.length, errors, certificates, ...(pending.length ? { pending } : {}) };
  }

  /**
   * Renew: same CA, subject, SANs, usage and key algorithm, a new serial; managed mode gets a new key
   * pair, csr mode needs a new CSR. The old certificate gets supersededById in the signer's transaction.
   * With an Idempotency-Key (csr-mode renewals only, as for issue): same key + same certificate and body
   * within 24 h, the same renewed certificate; another body (or another certificate) is 422.
   */
  async renew(caller: OrgCaller, id: string, dto: RenewCertificateDto, idempotencyKey?: string) {
    if (idempotencyKey === undefined) return this.renewOnce(caller, id, dto, randomUUID());
    const principal = caller.principal;
    const old = await this.readable(principal, id);
    if (old.mode !== 'csr') throw ApiError.badRequest('Idempotency-Key applies to csr-mode renewals only: a managed key cannot be replayed');
    const hash = requestHash({ renew: old.id, body: dto });
    return idempotently(this.dataSource.manager, principal.orgId, idempotencyKey, hash, (certificateId) => this.renewOnce(caller, id, dto, certificateId));
  }

  /** One renewal into `certificateId`; a replay finds the old certificate already superseded by that one, and answers with it. */
  private async renewOnce(caller: OrgCaller, id: string, dto: RenewCertificateDto, certificateId: string) {
    const principal = caller.principal;
    const old = await this.readable(principal, id);
    if (old.supersededById && old.supersededById !== certificateId) {
      throw new ApiError('conflict', 'this certificate was already renewed', { supersededById: old.supersededById });
    }
    // A certificate from elsewhere is renewed by its own CA through the outside ACME account that renews it
    // (an order, 202), or issued anew under the Signet profile that renews it (201: a new key, or a given CSR's).
    if (!old.caId && !old.renewProfileId) return this.externalAcme.renew(caller, old);
    const profileCaId = old.caId ? undefined : await this.renewalMethods.renewalCaId(principal, old);
    if (old.caId && old.mode === 'csr' && !dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['a csr-mode certificate is renewed with a new csrPem'] }]);
    if (old.caId && old.mode === 'managed' && dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['a managed certificate is renewed with a new managed key'] }]);
    const job = renewalJob(old, {
      certificateId, issuanceKey: `issue-${certificateId}`, actor: actorOf(caller), csrPem: dto.csrPem, validityDays: dto.validityDays, profileCaId,
    });
    const renewed = await this.issuance.submit(caller, job, dto.caPassphrase);
    if (dto.revokeOld) {
      await this.revoke(caller, old.id, { reason: 'superseded', caPassphrase: dto.caPassphrase }).catch((error) => {
        if (!(error instanceof ApiError && error.code === 'already_revoked')) throw error;
      });
    }
    return renewed;
  }

  private async issueOnce(caller: OrgCaller, dto: IssueCertificateDto, certificateId: string) {
    const principal = caller.principal;
    if (dto.mode === 'managed' && !dto.commonName) throw ApiError.validation([{ field: 'commonName', messages: ['commonName is required in managed mode'] }]);
    if (dto.mode === 'csr' && !dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['csrPem is required in csr mode'] }]);
    if (dto.mode === 'managed' && dto.csrPem) throw ApiError.validation([{ field: 'csrPem', messages: ['csrPem belongs to csr mode'] }]);
    // Labels are checked here (a 400 before the queue); the profile in the signer decides what is issued.
    if (dto.usage !== undefined || dto.extendedKeyUsage) extendedKeyUsageFor(dto.usage ?? 'server', dto.extendedKeyUsage);
    const sans = subjectAltNamesOf(dto);
    const { caId, profile } = await this.issuingTarget(principal, dto);
    const job: IssueCertificateJob = {
      issuanceKey: `issue-${certificateId}`,
      certificateId,
      orgId: principal.orgId,
      caId,
      profileId: profile?.id,
      mode: dto.mode,
      commonName: dto.commonName,
      sans,
      csrPem: dto.csrPem,
      keyAlgorithm: dto.keyAlgorithm,
      validityDays: dto.validityDays,
      usage: dto.usage,
      extendedKeyUsage: dto.extendedKeyUsage,
      subject: dto.subject ? leafSubjectOf(dto.subject) : undefined,
      notes: dto.notes,
      autoRenew: dto.autoRenew,
      renewalThresholdDays: dto.renewalThresholdDays,
      storeKey: dto.storeKey,
      actor: actorOf(caller),
    };
    // Four eyes: nothing is signed until another key approves (the certificate then gets this id).
    if (profile?.requireApproval) return this.approvals.request(caller, profile, job);
    return this.issuance.submit(caller, job, dto.caPassphrase);
  }

  /**
   * The CA (and profile) a request issues from, and the caller's issue permission on it: `profileId` or
   * `profile` (slug) names a live profile of the org, whose CA is the issuing CA (a different `caId` is
   * 400); without one, `caId` and the CA's built-in default profile.
   */
  private async issuingTarget(principal: OrgPrincipal, dto: IssueCertificateDto): Promise<{ caId: string; profile: ProfileEntity | null }> {
    const named = dto.profileId ?? dto.profile;
    const profile = named ? await findLiveProfile(this.dataSource.manager, principal.orgId, named) : null;
    if (named && !profile) throw ApiError.notFound('profile');
    if (profile && dto.caId && dto.caId !== profile.caId) {
      throw ApiError.validation([{ field: 'caId', messages: [`the profile issues from certificate authority ${profile.caId}; leave caId out or give that one`] }]);
    }
    const caId = profile?.caId ?? dto.caId;
    if (!caId) throw ApiError.validation([{ field: 'caId', messages: ['caId (or profileId / profile) is required'] }]);
    if (!mayOnCa(principal, caId, 'issue')) {
      throw mayOnCa(principal, caId, 'read') ? ApiError.forbidden(`this key may not issue on certificate authority ${caId}`) : ApiError.notFound(profile ? 'profile' : 'certificate authority');
    }
    return { caId, profile };
  }

  /** API.md's list: every filter, sort and page; a member sees only certificates of CAs it may read. */
  async list(principal: OrgPrincipal, q: ListCertificatesQueryDto) {
    // expiringInDays is a window of its own: without a status (or with all / active) it lists the active
    // certificates expiring within it, as status=expiring does; expired and revoked ones never expire ahead.
    if (q.expiringInDays !== undefined && (q.status === 'expired' || q.status === 'revoked')) {
      throw ApiError.validation([{ field: 'expiringInDays', messages: [`expiringInDays selects active certificates: it does not combine with status=${q.status}`] }]);
    }
    const window = q.status === 'expiring' ? q.expiringInDays ?? DEFAULT_EXPIRING_DAYS : q.expiringInDays;
    const cursorQuery = cursorQueryOf(q);
    const after = q.cursor === undefined ? undefined : decodeCursor(cursorQuery, q.cursor, CURSOR_KEY_IS_VALID[q.sortBy]);
    if (after && q.page !== 1) throw ApiError.validation([{ field: 'page', messages: ['page and cursor do not combine: a cursor says where the page starts'] }]);
    const found = await certificatesPage(this.dataSource.manager, {
      orgId: principal.orgId,
      caIds: readableCaIds(principal),
      caId: q.caId,
      usage: q.usage,
      profileId: q.profileId ?? q.dtp,
      source: q.source,
      createdFrom: q.createdFrom,
      createdTo: q.createdTo,
      status: q.status === 'all' || q.status === 'expiring' ? undefined : q.status,
      expiringWithinDays: window,
      search: q.search,
      sortBy: q.sortBy,
      sortOrder: q.sortOrder,
      after,
      skip: after ? 0 : skipOf(q),
      take: q.pageSize,
    });
    const certificates = found.rows.map((row) => certificateView(row));
    const nextCursor = found.next && encodeCursor(cursorQuery, found.next);
    if (found.total === null) return { certificates, total: null, page: null, pageSize: q.pageSize, totalPages: null, nextCursor };
    return { ...pageOf('certificates', certificates, found.total, q), nextCursor };
  }

  /** The row if this key may read its CA; 404 otherwise (another org's, or a CA the member cannot read). */
  async readable(principal: OrgPrincipal, id: string): Promise<CertificateEntity> {
    const row = await certificateInOrg(this.dataSource.manager, id, principal.orgId);
    const readable = readableCaIds(principal);
    if (!row || (readable && (row.caId === null || !readable.includes(row.caId)))) throw ApiError.notFound('certificate');
    return row;
  }

  /** The certificate with its PEM and the CA chain. */
  async get(principal: OrgPrincipal, id: string) {
    const row = await this.readable(principal, id);
    return { certificate: { ...certificateView(row), certificatePem: certificatePem(row), chainPem: await this.chainPemOf(principal, row) } };
  }

  /** Its issuers, PEM: the CA chain of a Signet CA, or the chain a certificate from elsewhere came with. */
  private async chainPemOf(principal: OrgPrincipal, row: CertificateEntity): Promise<string> {
    return row.caId ? (await this.cas.chain(principal, row.caId)).chain.join('') : row.chainPem ?? '';
  }

  async patch(caller: OrgCaller, id: string, dto: PatchCertificateDto) {
    const principal = caller.principal;
    const row = await this.readable(principal, id);
    const changes: CertificateSettings = {};
    if (dto.renewWith && row.caId) throw ApiError.validation([{ field: 'renewWith', messages: ['renewWith is for certificates from elsewhere: a Signet CA renews its own'] }]);
    const renewal = dto.renewWith
      ? await this.renewalMethods.choose(caller, dto.renewWith, { ...row, autoRenew: dto.autoRenew ?? row.autoRenew, renewalThresholdDays: dto.renewalThresholdDays ?? row.renewalThresholdDays })
      : null;
    if (dto.autoRenew === true && !row.autoRenew && !row.caId) {
      if (!renewal && !(await this.renewalMethods.has(row))) {
        throw new ApiError('policy_violation', 'no Signet CA issued this certificate and nothing renews it: give renewWith {profileId} (a Signet profile) or {acmeAccountId} (an outside ACME account)', { rule: 'autoRenew', field: 'autoRenew' });
      }
    } else if (dto.autoRenew === true && !row.autoRenew && row.caId) {
      const ca = await caInOrg(this.dataSource.manager, row.caId, principal.orgId);
      const problem = whyRenewalCannotWork({ mode: row.mode as 'managed' | 'csr', keptKey: row.mode === 'csr' || row.encryptedKey !== null, caHasPassphrase: ca?.hasPassphrase ?? false });
      if (problem) throw new ApiError('policy_violation', problem, { rule: 'autoRenew', field: 'autoRenew' });
    }
    if (dto.autoRenew !== undefined) changes.autoRenew = dto.autoRenew;
    if (dto.renewalThresholdDays !== undefined) changes.renewalThresholdDays = dto.renewalThresholdDays;
    if (dto.notes !== undefined) changes.notes = dto.notes;
    await this.dataSource.transaction(async (manager) => {
      await updateCertificateSettings(manager, row.id, changes);
      if (renewal) await this.renewalMethods.keep(manager, row.id, renewal);
      if (dto.deployTargets) await this.deployTargets.replace(principal.orgId, row.id, dto.deployTargets, manager);
      const details = dto.deployTargets ? { ...changes, deployTargets: dto.deployTargets } : { ...changes };
      await this.audit.record(caller, { eventType: 'certificate.update', resourceType: 'certificate', resourceId: row.id, details }, manager);
    });
    const { certificate } = await this.get(principal, id);
    return { certificate: { ...certificate, deployTargets: await this.deployTargets.of(id) } };
  }

  /**
   * Revoke through the signer: it marks the row, signs the revoked OCSP response and schedules the CRL
   * before answering, so a 200 means OCSP already says revoked. The row lock there makes two racing
   * revokes answer 200 once and 409 once.
   */
  async revoke(caller: OrgCaller, id: string, dto: RevokeCertificateDto) {
    const principal = caller.principal;
    const reason = parseRevocationReason(dto.reason ?? 'unspecified');
    if (!reason) throw ApiError.validation([{ field: 'reason', messages: [`unknown revocation reason "${dto.reason}"`] }]);
    const row = await this.readable(principal, id);
    if (!row.caId) {
      // Revoked at its own CA, through the outside ACME account that obtained or renews it.
      await this.externalAcme.revoke(caller, row, reason, dto.comments);
      return { certificate: certificateView(await this.readable(principal, id)) };
    }
    if (row.status === 'revoked') throw new ApiError('already_revoked', 'certificate is already revoked', { revokedAt: row.revokedAt?.toISOString() });
    const job: RevokeCertificateJob = {
      certificateId: row.id,
      orgId: principal.orgId,
      reason,
      comments: dto.comments,
      sealedCaPassphrase: await this.signer.sealPassphrase(dto.caPassphrase, row.caId),
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    await this.signer.run(SIGNER_JOBS.revokeCertificate, job, `revoke-${row.id}-${randomUUID()}`);
    return { certificate: certificateView(await this.readable(principal, id)) };
  }

  /**
   * Every download format of API.md. `key` (and the key inside `zip`) is a stored managed key, which
   * only the signer can open: it comes back sealed to this request's one-time key. Handing out a private
   * key needs the issue permission on the CA, not just read.
   */
  async download(caller: OrgCaller, id: string, format: string, options: { password?: string; legacy?: boolean } = {}): Promise<{ body: Buffer | string | object; contentType: string; filename: string }> {
    const principal = caller.principal;
    const row = await this.readable(principal, id);
    const pem = certificatePem(row);
    const chainPem = await this.chainPemOf(principal, row);
    const name = row.commonName.replace(/[^A-Za-z0-9.-]/g, '_');
    const keyIfAllowed = async () => (row.encryptedKey && mayOnCa(principal, row.caId, 'issue') ? this.issuance.storedKey(caller, row) : undefined);
    switch (format) {
      case 'pem':
        return { body: pem, contentType: 'application/x-pem-file', filename: `${name}.pem` };
      case 'der':
        return { body: row.certificateDer, contentType: 'application/pkix-cert', filename: `${name}.cer` };
      case 'chain':
        return { body: chainPem, contentType: 'application/x-pem-file', filename: `${name}.chain.pem` };
      case 'fullchain':
        return { body: pem + chainPem, contentType: 'application/x-pem-file', filename: `${name}.fullchain.pem` };
      case 'csr':
        if (!row.csrDer) throw ApiError.notFound('CSR (managed certificates have none)');
        return { body: toPem('CERTIFICATE REQUEST', row.csrDer), contentType: 'application/pkcs10', filename: `${name}.csr` };
      case 'key':
        if (!row.encryptedKey) throw ApiError.notFound('stored private key (only managed certificates issued with storeKey have one)');
        return { body: await this.issuance.storedKey(caller, row), contentType: 'application/x-pem-file', filename: `${name}.key` };
      case 'p12': {
        if (!options.password) throw ApiError.validation([{ field: 'password', messages: ['a PKCS#12 file needs a password (1 to 1024 characters)'] }]);
        if (!row.encryptedKey) throw ApiError.notFound('stored private key (only managed certificates issued with storeKey have one)');
        const key = createPrivateKey(await this.issuance.storedKey(caller, row));
        const certificates = [row.certificateDer, ...pemBlocks(chainPem).map((block) => block.der)];
        const body = options.legacy ? exportLegacyPkcs12(key, certificates, options.password) : exportPkcs12(key, certificates, options.password);
        return { body, contentType: 'application/x-pkcs12', filename: `${name}.p12` };
      }
      case 'json': {
        const privateKeyPem = await keyIfAllowed();
        return { body: { certificatePem: pem, chainPem, fullchainPem: pem + chainPem, ...(privateKeyPem ? { privateKeyPem } : {}) }, contentType: 'application/json', filename: `${name}.json` };
      }
      case 'zip': {
        const privateKeyPem = await keyIfAllowed();
        const entries = [
          { name: `${name}/certificate.pem`, data: pem },
          { name: `${name}/chain.pem`, data: chainPem },
          { name: `${name}/fullchain.pem`, data: pem + chainPem },
          ...(row.csrDer ? [{ name: `${name}/request.csr`, data: toPem('CERTIFICATE REQUEST', row.csrDer) }] : []),
          ...(privateKeyPem ? [{ name: `${name}/private.key`, data: privateKeyPem }] : []),
        ];
        return { body: zip(entries), contentType: 'application/zip', filename: `${name}.zip` };
      }
      default:
        throw ApiError.validation([{ field: 'format', messages: [`unknown format ${format}`] }]);
    }
  }

  /**
   * API.md's stats of the certificates this key may read (of one CA with `caId`): counters, and counts by CA,
   * issuer name, usage and key algorithm, as of `asOf` (exact below 100,000 certificates; see StatsCache).
   */
  async stats(principal: OrgPrincipal, caId?: string) {
    const manager = this.dataSource.manager;
    const scope: CertificateScope = { orgId: principal.orgId, caIds: readableCaIds(principal), caId };
    const { value: counts, asOf } = await this.statsCache.get(JSON.stringify(scope), () => certificateCounts(manager, scope));
    const { byCa, byUsage, byKeyAlgorithm, importedByIssuer, ...totals } = counts;
    // The same counts by the CA's common name (CertMate's byIssuer); CAs sharing a name add up.
    const names = await caNamesOf(manager, Object.keys(byCa));
    const byIssuer: Record<string, number> = {};
    for (const [id, n] of Object.entries(byCa)) {
      const name = names.get(id) ?? id;
      byIssuer[name] = (byIssuer[name] ?? 0) + n;
    }
    // Certificates from elsewhere by their issuer's distinguished name.
    if (!caId) for (const [issuer, n] of Object.entries(importedByIssuer)) byIssuer[issuer] = (byIssuer[issuer] ?? 0) + n;
    return { ...totals, byCa, byIssuer, byUsage, byKeyAlgorithm, asOf: asOf.toISOString() };
  }
}
