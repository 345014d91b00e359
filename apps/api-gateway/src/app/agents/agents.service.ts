/**
 * Agents (API.md section 10): made and removed by org admins (the key shown once, kept as a SHA-256 of
 * its secret), heard from by heartbeats, and what they discover: the gateway reads every reported
 * certificate itself (the agent is a trust boundary too), stores one row per location and keeps the
 * finding-level errors of the agent's last pass. Discovered certificates are imported into the inventory
 * through the same path as POST /certificates/import, with source `discovered`.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  DiscoveredCertificateInput, agentById, agentsPage, deleteAgent, discoveredCertificateById, discoveredCertificatesPage, discoveredLocations, insertAgent,
  recordAgentScan, touchAgent, upsertDiscoveredCertificates,
} from '@signet/persistence';
import { BundleInputError, describeKey, formatName, namesOf, parseCertificate, readBundle, toPem } from '@signet/pki';
import { ApiError, Clock } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { Caller, OrgCaller } from '../access/caller';
import type { AgentPrincipal, OrgPrincipal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { CertificateBundlesService } from '../certificates/certificate-bundles.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import {
  CreateAgentDto, DiscoveryReportDto, FindingDto, HeartbeatDto, ImportDiscoveredDto, ListDiscoveredDto, agentView, discoveredView,
} from './agent.dto';
import { generateAgentKey } from './agent-key';

/** Finding-level errors kept of an agent's last pass (the count is kept in full). */
const MAX_SCAN_ERRORS = 200;

export type AgentCaller = Caller<AgentPrincipal>;

/** What the gateway reads of a reported certificate (the rest of a finding is where and by whom). */
type ReadCertificate = Omit<DiscoveredCertificateInput, 'orgId' | 'agentId' | 'source' | 'location' | 'hasPrivateKey'>;

/** A reported certificate and its chain read by the gateway itself, or why it cannot be. */
function readCertificate(f: FindingDto): ReadCertificate | string {
  let bundle;
  try {
    bundle = readBundle({ certificatePem: f.certificatePem, chainPem: f.chainPem || undefined });
  } catch (error) {
    return error instanceof BundleInputError ? error.message : 'not a certificate';
  }
  const leaf = bundle.leaf;
  let parsed;
  try {
    parsed = parseCertificate(leaf.raw);
  } catch {
    parsed = null;
  }
  const names = namesOf(leaf);
  return {
    fingerprintSha256: leaf.fingerprint256.replace(/:/g, '').toLowerCase(), serialNumber: leaf.serialNumber.toUpperCase(),
    commonName: names.commonName ?? names.dns[0] ?? names.ip[0] ?? '',
    subjectDn: parsed ? formatName(parsed.subjectDer) : leaf.subject.split('\n').reverse().join(', '),
    issuerDn: parsed ? formatName(parsed.issuerDer) : leaf.issuer.split('\n').reverse().join(', '),
    sanDns: names.dns, sanIp: names.ip, keyAlgorithm: describeKey(leaf.publicKey),
    selfSigned: leaf.subject === leaf.issuer && leaf.verify(leaf.publicKey), validFrom: new Date(leaf.validFrom), validTo: new Date(leaf.validTo),
    certificateDer: leaf.raw, chainPem: bundle.chain.map((c) => toPem('CERTIFICATE', c.raw)).join('') || null,
  };
}

@Injectable()
export class AgentsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly bundles: CertificateBundlesService,
  ) {}

  async create(caller: OrgCaller, dto: CreateAgentDto) {
    const key = generateAgentKey();
    const agent = await this.dataSource.transaction(async (manager) => {
      const row = await insertAgent(manager, { id: randomUUID(), orgId: caller.principal.orgId, name: dto.name, keyId: key.keyId, secretHash: key.secretHash, prefix: key.prefix });
      await this.audit.record(caller, { eventType: 'agent.create', resourceType: 'agent', resourceId: row.id, details: { name: row.name, prefix: row.prefix } }, manager);
      return row;
    });
    return { agent: agentView(agent, this.clock.now().getTime()), key: key.token };
  }

  async list(principal: OrgPrincipal, q: PageQueryDto) {
    const { rows, total } = await agentsPage(this.dataSource.manager, principal.orgId, { offset: skipOf(q), limit: q.pageSize });
    const now = this.clock.now().getTime();
    return pageOf('agents', rows.map((a) => agentView(a, now)), total, q);
  }

  async get(principal: OrgPrincipal, id: string) {
    const row = await agentById(this.dataSource.manager, principal.orgId, id);
    if (!row) throw ApiError.notFound('agent');
    return { agent: agentView(row, this.clock.now().getTime()) };
  }

  /** Its key stops working at once (agent keys are not cached); what it found and its deployments go with it. */
  async remove(caller: OrgCaller, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const row = await deleteAgent(manager, caller.principal.orgId, id);
      if (!row) throw ApiError.notFound('agent');
      await this.audit.record(caller, { eventType: 'agent.delete', resourceType: 'agent', resourceId: id, details: { name: row.name, prefix: row.prefix } }, manager);
    });
  }

  // ---- the agent's own calls ----

  async heartbeat(caller: AgentCaller, dto: HeartbeatDto) {
    const principal = caller.principal;
    const targets = (dto.targets ?? []).map((t) => ({
      name: t.name, certPath: t.certPath, keyPath: t.keyPath ?? null, chainPath: t.chainPath ?? null, fullchainPath: t.fullchainPath ?? null, reloadCommand: t.reloadCommand ?? null,
    }));
    const names = targets.map((t) => t.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw ApiError.validation([{ field: 'targets', messages: [`target ${twice} is named twice`] }]);
    await touchAgent(this.dataSource.manager, principal.agentId, this.clock.now(), { hostname: dto.hostname ?? null, version: dto.version ?? null, targets });
    const row = await agentById(this.dataSource.manager, principal.orgId, principal.agentId);
    if (!row) throw ApiError.notFound('agent');
    return { agent: agentView(row, this.clock.now().getTime()) };
  }

  /** Store a batch of findings; a certificate the gateway cannot read is a finding-level error, never a refusal of the batch. */
  async report(caller: AgentCaller, dto: DiscoveryReportDto) {
    const principal = caller.principal;
    const now = this.clock.now();
    const rows: (DiscoveredCertificateInput & { id: string })[] = [];
    const errors: { location: string; error: string }[] = [];
    const rejected: { location: string; error: string }[] = [];
    const seen = new Set<string>();
    // The same certificate found in many places (copies, a bundle shared by servers) is read once per batch.
    const read = new Map<string, ReadCertificate | string>();
    for (const finding of dto.findings) {
      const place = `${finding.source}:${finding.location}`;
      if (seen.has(place)) continue;
      seen.add(place);
      if (finding.error !== undefined || finding.certificatePem === undefined) {
        errors.push({ location: finding.location, error: finding.error ?? 'no certificate given' });
        continue;
      }
      const key = `${finding.certificatePem}\n${finding.chainPem ?? ''}`;
      let certificate = read.get(key);
      if (certificate === undefined) read.set(key, (certificate = readCertificate(finding)));
      if (typeof certificate === 'string') {
        rejected.push({ location: finding.location, error: certificate });
        continue;
      }
      rows.push({
        ...certificate, id: randomUUID(), orgId: principal.orgId, agentId: principal.agentId, source: finding.source, location: finding.location,
        hasPrivateKey: finding.hasPrivateKey === true,
      });
    }
    await this.dataSource.transaction(async (manager) => {
      await upsertDiscoveredCertificates(manager, rows, now);
      await recordAgentScan(manager, principal.agentId, { scanId: dto.scanId, startedAt: dto.startedAt, reported: rows.length, errors: [...errors, ...rejected] }, MAX_SCAN_ERRORS);
      await touchAgent(manager, principal.agentId, now);
    });
    return { stored: rows.length, errors: errors.length + rejected.length, rejected };
  }

  // ---- discovered certificates ----

  async listDiscovered(principal: OrgPrincipal, q: ListDiscoveredDto) {
    const now = this.clock.now();
    const { rows, total } = await discoveredCertificatesPage(
      this.dataSource.manager,
      { orgId: principal.orgId, agentId: q.agentId, source: q.source, imported: q.imported, expiringInDays: q.expiringInDays, now },
      { offset: skipOf(q), limit: q.pageSize },
    );
    return pageOf('discoveredCertificates', rows.map((d) => discoveredView(d, now.getTime())), total, q);
  }

  async getDiscovered(principal: OrgPrincipal, id: string) {
    const row = await discoveredCertificateById(this.dataSource.manager, principal.orgId, id);
    if (!row) throw ApiError.notFound('discovered certificate');
    return { discoveredCertificate: discoveredView(row, this.clock.now().getTime()) };
  }

  /** Into the inventory as source `discovered`, with every location the org's agents saw it at. */
  async importDiscovered(caller: OrgCaller, id: string, dto: ImportDiscoveredDto) {
    const principal = caller.principal;
    const row = await discoveredCertificateById(this.dataSource.manager, principal.orgId, id);
    if (!row) throw ApiError.notFound('discovered certificate');
    if (row.certificateId) throw new ApiError('conflict', 'this certificate is already in the inventory', { certificateId: row.certificateId });
    // profileId: renewed from now on by a Signet CA under that profile (renewWith {profileId}, with a new
    // key, since the agent reports no private key); autoRenew without one has nothing to renew it.
    if (dto.autoRenew && dto.profileId === undefined) {
      throw new ApiError('policy_violation', 'a discovered certificate renews automatically only under a Signet profile: give profileId', { rule: 'autoRenew', field: 'autoRenew' });
    }
    const imported = await this.bundles.import(
      caller,
      {
        certificatePem: toPem('CERTIFICATE', row.certificateDer), chainPem: row.chainPem ?? undefined, notes: dto.notes, renewalThresholdDays: dto.renewalThresholdDays,
        autoRenew: dto.autoRenew, renewWith: dto.profileId !== undefined ? { profileId: dto.profileId } : undefined,
      },
      'discovered',
    );
    const locations = await discoveredLocations(this.dataSource.manager, principal.orgId, row.fingerprintSha256);
    return {
      certificate: { ...imported.certificate, locations: locations.map((l) => ({ ...l, lastSeenAt: l.lastSeenAt.toISOString() })) },
      warnings: imported.warnings,
    };
  }
}
