/**
 * Four-eyes issuance (API.md section 6). A request under a profile with `requireApproval` is stored
 * (202) with nothing signed; a key with the `approve` permission on the CA, never the key that asked,
 * approves (the signer then issues exactly once: the certificate id is the approval's id, and a decision
 * is one conditional UPDATE) or rejects it. Past `expiresAt` a request is `expired`: decisions are 409.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  ApprovalEntity, ProfileEntity, approvalByIdOrFail, approvalInOrg, decideApproval, insertApproval, listApprovals, reopenApproval, settleApproval,
} from '@signet/persistence';
import { isPkiError, parseCsr } from '@signet/pki';
import { IssueCertificateJob } from '@signet/queue';
import { ApiError, Clock } from '@signet/service';
import { DataSource } from 'typeorm';
import { OrgPrincipal, mayOnCa } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { IssuanceService, actorOf } from '../certificates/issuance.service';
import { pageOf, skipOf } from '../paging';
import { ApproveDto, ApprovalView, ListApprovalsQueryDto, RejectDto } from './approval.dto';
import type { OrgCaller } from '../access/caller';

/** What an approval keeps of the issuance job: the request's intent, never a key or a passphrase. */
type StoredIntent = Pick<
  IssueCertificateJob,
  'mode' | 'commonName' | 'sans' | 'csrPem' | 'keyAlgorithm' | 'validityDays' | 'usage' | 'extendedKeyUsage' | 'subject' | 'notes'
  | 'autoRenew' | 'renewalThresholdDays' | 'storeKey'
> & {
  /** What the approver is shown: the names and key a CSR asks for, read once when the request is made. */
  display: { commonName: string | null; sanDns: string[]; sanIp: string[]; keyAlgorithm: string | null };
};

const HOUR_MS = 3_600_000;

/** Refusals that end a request: the profile or the CA said no. Others (signer away, passphrase) leave it pending. */
const FINAL_REFUSALS = new Set(['validation_failed', 'policy_violation', 'not_found', 'bad_request']);

@Injectable()
export class ApprovalsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly issuance: IssuanceService,
    private readonly clock: Clock,
  ) {}

  /** Store a request for a second person's decision: the answer of an issuance under `requireApproval`. */
  async request(caller: OrgCaller, profile: ProfileEntity, job: IssueCertificateJob): Promise<{ approval: ApprovalView }> {
    if (job.mode === 'managed' && !job.storeKey) {
      throw ApiError.validation([{ field: 'storeKey', messages: ['a managed request that needs approval needs storeKey: true (fetch the key with download?format=key once issued)'] }]);
    }
    const csr = job.csrPem ? await parseCsr(job.csrPem).catch((error) => {
      if (!isPkiError(error)) throw error;
      throw ApiError.validation([{ field: 'csrPem', messages: [error.message] }]);
    }) : null;
    const intent: StoredIntent = {
      mode: job.mode, commonName: job.commonName, sans: job.sans, csrPem: job.csrPem, keyAlgorithm: job.keyAlgorithm, validityDays: job.validityDays,
      usage: job.usage, extendedKeyUsage: job.extendedKeyUsage, subject: job.subject, notes: job.notes, autoRenew: job.autoRenew,
      renewalThresholdDays: job.renewalThresholdDays, storeKey: job.storeKey,
      display: {
        commonName: job.commonName ?? csr?.commonName ?? null,
        sanDns: [...new Set([...job.sans.dns, ...(job.sans.dns.length ? [] : csr?.sanDns ?? [])])],
        sanIp: [...new Set([...job.sans.ip, ...(job.sans.ip.length ? [] : csr?.sanIp ?? [])])],
        keyAlgorithm: csr?.keyAlgorithm ?? job.keyAlgorithm ?? null,
      },
    };
    // The signer's checks (CA, profile rules, CSR, compromised keys) now, not at approval: a request the
    // profile refuses is refused to its requester at once. Nothing is signed; no CA key is opened.
    await this.issuance.check(job);
    const { type, id, name } = actorOf(caller);
    const now = this.clock.now();
    const row = await this.dataSource.transaction(async (manager) => {
      const existing = await approvalInOrg(manager, job.certificateId, job.orgId);
      if (existing) return existing;
      const inserted = await insertApproval(manager, {
        id: job.certificateId, orgId: job.orgId, profileId: profile.id, caId: profile.caId, request: JSON.parse(JSON.stringify(intent)),
        requestedBy: { type, id, name }, createdAt: now, expiresAt: new Date(now.getTime() + profile.approvalTtlHours * HOUR_MS),
      });
      await this.audit.record(caller, {
        eventType: 'approval.requested', outcome: 'pending', resourceType: 'approval', resourceId: inserted.id,
        details: { profileId: profile.id, caId: profile.caId, commonName: job.commonName ?? null, mode: job.mode },
      }, manager);
      return inserted;
    });
    return { approval: this.view(row) };
  }

  async list(principal: OrgPrincipal, q: ListApprovalsQueryDto) {
    const caIds = principal.role === 'admin' ? null : Object.entries(principal.permissions).filter(([, grant]) => grant.approve || grant.read).map(([caId]) => caId);
    const [rows, total] = await listApprovals(this.dataSource.manager, {
      orgId: principal.orgId, status: q.status, profileId: q.profileId, caIds, requestedById: principal.apiKeyId, now: this.clock.now(),
      skip: skipOf(q), take: q.pageSize,
    });
    return pageOf('approvals', rows.map((row) => this.view(row)), total, q);
  }

  async get(principal: OrgPrincipal, id: string): Promise<{ approval: ApprovalView }> {
    return { approval: this.view(await this.readable(principal, id)) };
  }

  async approve(caller: OrgCaller, id: string, dto: ApproveDto) {
    const row = await this.decidable(caller, id);
    const claimed = await this.claim(caller, row, 'approved', null);
    const { display: _display, ...intent } = claimed.request as unknown as StoredIntent;
    const job: IssueCertificateJob = {
      ...intent,
      issuanceKey: `approval-${claimed.id}`,
      certificateId: claimed.id,
      orgId: claimed.orgId,
      caId: claimed.caId,
      profileId: claimed.profileId,
      actor: actorOf(caller),
    };
    let issued;
    try {
      issued = await this.issuance.submit(caller, job, dto.caPassphrase);
    } catch (error) {
      if (error instanceof ApiError && FINAL_REFUSALS.has(error.code)) {
        await settleApproval(this.dataSource.manager, claimed.id, { refusedBecause: `refused at issuance: ${error.message}` });
      } else {
        await reopenApproval(this.dataSource.manager, claimed.id);
      }
      throw error;
    }
    await this.dataSource.transaction(async (manager) => {
      await settleApproval(manager, claimed.id, { certificateId: issued.certificate.id });
      await this.audit.record(caller, {
        eventType: 'approval.approved', resourceType: 'approval', resourceId: claimed.id,
        details: { certificateId: issued.certificate.id, requestedBy: claimed.requestedBy },
      }, manager);
    });
    const { certificatePem: _pem, chainPem: _chain, ...certificate } = issued.certificate;
    return { approval: this.view({ ...claimed, certificateId: issued.certificate.id }), certificate };
  }

  async reject(caller: OrgCaller, id: string, dto: RejectDto) {
    const row = await this.decidable(caller, id);
    const claimed = await this.dataSource.transaction(async (manager) => {
      const decided = await this.claim(caller, row, 'rejected', dto.reason, manager);
      await this.audit.record(caller, {
        eventType: 'approval.rejected', resourceType: 'approval', resourceId: decided.id, details: { reason: dto.reason, requestedBy: decided.requestedBy },
      }, manager);
      return decided;
    });
    return { approval: this.view(claimed) };
  }

  /** The request, for a key that may decide it: approve permission on its CA, and not the key that asked. */
  private async decidable(caller: OrgCaller, id: string): Promise<ApprovalEntity> {
    const principal = caller.principal;
    const row = await this.readable(principal, id);
    if (!mayOnCa(principal, row.caId, 'approve')) throw ApiError.forbidden(`this key may not approve on certificate authority ${row.caId}`);
    if (row.requestedBy.type === 'apiKey' && row.requestedBy.id === principal.apiKeyId) {
      throw ApiError.forbidden('the key that asked for a certificate can never decide its own request');
    }
    return row;
  }

  /** One conditional UPDATE: of two deciders racing, one wins; the other (and any late one) gets 409. */
  private async claim(caller: OrgCaller, row: ApprovalEntity, status: 'approved' | 'rejected', reason: string | null, manager = this.dataSource.manager) {
    const { type, id, name } = actorOf(caller);
    const now = this.clock.now();
    const claimed = await decideApproval(manager, { id: row.id, orgId: row.orgId, status, decidedBy: { type, id, name }, reason, now });
    if (claimed) return claimed;
    const current = await approvalByIdOrFail(manager, row.id);
    if (current.status === 'pending') throw new ApiError('conflict', `the request expired at ${current.expiresAt.toISOString()}`, { status: 'expired' });
    throw new ApiError('conflict', `the request was already ${current.status}`, { status: current.status });
  }

  /**
   * Keys that may read or approve on its CA read every request (deciding needs approve: 403 otherwise);
   * the requester reads its own; anyone else: 404.
   */
  private async readable(principal: OrgPrincipal, id: string): Promise<ApprovalEntity> {
    const row = await approvalInOrg(this.dataSource.manager, id, principal.orgId);
    const mayRead = row && (mayOnCa(principal, row.caId, 'approve') || mayOnCa(principal, row.caId, 'read') || (row.requestedBy.type === 'apiKey' && row.requestedBy.id === principal.apiKeyId));
    if (!row || !mayRead) throw ApiError.notFound('approval');
    return row;
  }

  private view(row: ApprovalEntity): ApprovalView {
    const request = row.request as unknown as StoredIntent;
    const expired = row.status === 'pending' && row.expiresAt.getTime() <= this.clock.now().getTime();
    return {
      id: row.id,
      profileId: row.profileId,
      caId: row.caId,
      status: expired ? 'expired' : row.status,
      request: {
        ...request.display,
        validityDays: request.validityDays ?? null,
        usage: request.usage ?? null,
        mode: request.mode,
      },
      requestedBy: row.requestedBy,
      decidedBy: row.decidedBy,
      decidedAt: row.decidedAt ? row.decidedAt.toISOString() : null,
      reason: row.reason,
      certificateId: row.certificateId,
      createdAt: row.createdAt.toISOString(),
      expiresAt: row.expiresAt.toISOString(),
    };
  }
}
