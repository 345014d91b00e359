/**
 * Deployments of certificates to agents (API.md section 10).
 *
 * - By hand: POST /certificates/:id/deploy queues one for an online agent's named targets.
 * - On renewal: deployment targets set on a certificate (PATCH deployTargets) follow its renewal line.
 *   Every renewal, by REST or by the signer's sweep, sets the old certificate's `superseded_by_id` in the
 *   transaction that stores the new one; when the agent next asks for work, the gateway moves its targets
 *   to the newest certificate and queues their deployment (carryDeployTargetsForward). The signer knows
 *   nothing of agents, and no renewal can be missed: the state is in the rows, not in a message.
 * - The agent long-polls for work; it is handed the certificate, its chain, and the private key sealed to
 *   a key only that agent process holds (the signer seals it: the gateway never sees the key in the clear).
 * - The agent reports each target's outcome; the report settles the deployment once (a repeated report,
 *   from the agent's spool after a lost answer, is answered with the settled row) and records the audit
 *   event `deployment.succeeded` or `deployment.failed` in the same transaction, which the webhook
 *   dispatcher sends on as the webhook event of that name.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  AgentRow, CertificateEntity, DeploymentRow, carryDeployTargetsForward, certificateInOrg, certificatesById, claimDeployment, deploymentById, insertDeployment,
  settleDeployment, touchAgent,
} from '@signet/persistence';
import { toPem } from '@signet/pki';
import { ExportKeyJob, SIGNER_JOBS } from '@signet/queue';
import { ApiError, Clock, SignerClient } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import type { OrgCaller } from '../access/caller';
import { OrgPrincipal, requireOnCa } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { CasService } from '../cas/cas.service';
import { AGENT_OFFLINE_AFTER_MS, ClaimDeploymentDto, DeployCertificateDto, DeploymentResultDto, deploymentView } from './agent.dto';
import { agentNamedIn, unknownTargets } from './deploy-targets.service';
import type { AgentCaller } from './agents.service';

/** A deployment claimed this long ago by the same agent run without a report is handed out again. */
const CLAIM_LEASE_MS = 10 * 60_000;
/** How often a waiting long poll looks again for work (renewals by the sweep wake nobody). */
const POLL_EVERY_MS = 1000;

@Injectable()
export class DeploymentsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly signer: SignerClient,
    private readonly cas: CasService,
  ) {}

  /** A certificate the caller may deploy: issue permission on its CA (a certificate from elsewhere: an org admin). */
  private async deployable(principal: OrgPrincipal, certificateId: string): Promise<CertificateEntity> {
    const row = await certificateInOrg(this.dataSource.manager, certificateId, principal.orgId);
    if (!row) throw ApiError.notFound('certificate');
    requireOnCa(principal, row.caId, 'issue', 'certificate');
    return row;
  }

  /** The org's agent, or 400 naming `field` (an id in a body names no resource of the path). */
  private agentOf(orgId: string, agentId: string, field: string): Promise<AgentRow> {
    return agentNamedIn(this.dataSource.manager, orgId, agentId, field);
  }

  async deploy(caller: OrgCaller, certificateId: string, dto: DeployCertificateDto) {
    const principal = caller.principal;
    const certificate = await this.deployable(principal, certificateId);
    if (certificate.status === 'revoked') throw new ApiError('conflict', 'a revoked certificate is not deployed');
    const agent = await this.agentOf(principal.orgId, dto.agentId, 'agentId');
    const now = this.clock.now().getTime();
    if (!agent.lastSeenAt || now - agent.lastSeenAt.getTime() >= AGENT_OFFLINE_AFTER_MS) {
      throw new ApiError('agent_unavailable', `agent ${agent.name} is offline (last seen ${agent.lastSeenAt?.toISOString() ?? 'never'})`, {
        agentId: agent.id, lastSeenAt: agent.lastSeenAt?.toISOString() ?? null,
      });
    }
    const targets = [...new Set(dto.targets)];
    const unknown = unknownTargets(agent, targets);
    if (unknown.length) throw ApiError.validation([{ field: 'targets', messages: [`agent ${agent.name} has no target named ${unknown.join(', ')}`] }]);
    const deployment = await this.dataSource.transaction(async (manager) => {
      const row = await insertDeployment(manager, {
        orgId: principal.orgId, certificateId, agentId: agent.id, targets, trigger: 'manual',
        requestedBy: { type: 'apiKey', id: principal.apiKeyId, name: principal.name },
      });
      await this.audit.record(caller, { eventType: 'deployment.create', resourceType: 'deployment', resourceId: row.id, details: deploymentDetails(row) }, manager);
      return row;
    });
    return { deployment: deploymentView(deployment) };
  }

  async get(principal: OrgPrincipal, id: string) {
    const row = await deploymentById(this.dataSource.manager, principal.orgId, id);
    if (!row) throw ApiError.notFound('deployment');
    // Its certificate is what a member must be entitled to: else it learns nothing, not even that it exists.
    await this.deployable(principal, row.certificateId).catch((error) => {
      throw error instanceof ApiError && error.status === 403 ? error : ApiError.notFound('deployment');
    });
    return { deployment: deploymentView(row) };
  }

  // ---- the agent's side ----

  /**
   * The agent's next deployment, waiting up to `waitSeconds` for one; null when there is none. Renewed
   * certificates of its targets become deployments here first.
   */
  async claim(caller: AgentCaller, dto: ClaimDeploymentDto) {
    const agentId = caller.principal.agentId;
    const deadline = Date.now() + (dto.waitSeconds ?? 0) * 1000;
    for (;;) {
      const claimed = await this.dataSource.transaction(async (manager) => {
        const renewed = await carryDeployTargetsForward(manager, agentId);
        for (const row of renewed) {
          await this.audit.record(caller, { eventType: 'deployment.create', orgId: row.orgId, resourceType: 'deployment', resourceId: row.id, details: deploymentDetails(row) }, manager);
        }
        await touchAgent(manager, agentId, this.clock.now());
        return claimDeployment(manager, agentId, dto.session, this.clock.now(), CLAIM_LEASE_MS);
      });
      if (claimed) return this.handOver(caller, claimed, dto.recipientKey);
      if (Date.now() + POLL_EVERY_MS > deadline) return null;
      await sleep(POLL_EVERY_MS);
    }
  }

  private async handOver(caller: AgentCaller, deployment: DeploymentRow, recipientKey: string) {
    const certificate = (await certificatesById(this.dataSource.manager, [deployment.certificateId])).get(deployment.certificateId) as CertificateEntity;
    const certificatePem = toPem('CERTIFICATE', certificate.certificateDer);
    // The issuing chain, without the certificate: a Signet CA's from the CA up (its root included, as
    // the download's chain format), a certificate from elsewhere's as it came.
    const chainPem = certificate.caId ? (await this.cas.chainInOrg(certificate.orgId, certificate.caId)).join('') : (certificate.chainPem ?? '');
    let sealedPrivateKey: string | null = null;
    if (certificate.encryptedKey) {
      const job: ExportKeyJob = {
        certificateId: certificate.id, orgId: certificate.orgId, recipientKey,
        actor: { type: 'system', id: caller.principal.agentId, name: caller.principal.name, ip: caller.ip },
      };
      sealedPrivateKey = (await this.signer.run(SIGNER_JOBS.exportKey, job, `key-${certificate.id}-${randomUUID()}`)).sealedPrivateKey;
    }
    return { deployment: deploymentView(deployment), certificatePem, chainPem, fullchainPem: certificatePem + chainPem, sealedPrivateKey };
  }

  /** The agent's result: settles the deployment once, with its audit event (and so its webhook). */
  async settle(caller: AgentCaller, id: string, dto: DeploymentResultDto) {
    const principal = caller.principal;
    return this.dataSource.transaction(async (manager) => {
      const existing = await deploymentById(manager, principal.orgId, id);
      if (!existing || existing.agentId !== principal.agentId) throw ApiError.notFound('deployment');
      const reported = new Map(dto.targets.map((t) => [t.name, t]));
      const missing = existing.targets.filter((t) => !reported.has(t.name)).map((t) => t.name);
      const extra = dto.targets.filter((t) => !existing.targets.some((e) => e.name === t.name)).map((t) => t.name);
      if (missing.length || extra.length) {
        throw ApiError.validation([{ field: 'targets', messages: [`report each target of the deployment once: ${existing.targets.map((t) => t.name).join(', ')}`] }]);
      }
      const targets = existing.targets.map((t) => {
        const r = reported.get(t.name) as DeploymentResultDto['targets'][number];
        return { name: t.name, status: r.status, error: r.status === 'failed' ? (r.error || 'failed') : null };
      });
      const result = await settleDeployment(manager, principal.agentId, id, targets, this.clock.now());
      if (!result) throw ApiError.notFound('deployment');
      if (result.settled) {
        await this.audit.record(caller, {
          eventType: result.row.status === 'succeeded' ? 'deployment.succeeded' : 'deployment.failed',
          outcome: result.row.status === 'succeeded' ? 'success' : 'failed',
          orgId: principal.orgId, resourceType: 'deployment', resourceId: id, details: deploymentDetails(result.row),
        }, manager);
      }
      await touchAgent(manager, principal.agentId, this.clock.now());
      return { deployment: deploymentView(result.row) };
    });
  }
}

/** What the audit log (and through it, the webhooks) tells of a deployment. */
const deploymentDetails = (d: DeploymentRow) => ({
  deploymentId: d.id, certificateId: d.certificateId, agentId: d.agentId, trigger: d.trigger, status: d.status, targets: d.targets,
});
