/**
 * Agents (API.md section 10): the agents of an org and their keys, what they discovered, the deployment
 * targets set on certificates and the deployments themselves.
 *
 * Renewals reach agents without the signer knowing of them: a deployment target names the certificate it
 * was set on, and when that certificate has a successor (`superseded_by_id`, set by every renewal, by hand
 * or by the sweep, in the transaction that stores the new certificate) `carryDeployTargetsForward` moves
 * the target to the newest certificate of the line and queues a deployment of it, in one transaction.
 */
import { EntityManager } from 'typeorm';

export type DiscoverySource = 'filesystem' | 'network';
export type DeploymentStatus = 'pending' | 'succeeded' | 'failed';
export type DeploymentTrigger = 'manual' | 'renewal';

/** A deployment target as the agent's configuration names it (paths are for display: the agent owns them). */
export interface AgentTarget {
  name: string;
  certPath: string;
  keyPath: string | null;
  chainPath: string | null;
  fullchainPath: string | null;
  reloadCommand: string | null;
}

/** What the agent last said of its discovery pass. */
export interface AgentScan {
  scanId: string;
  startedAt: string;
  reported: number;
  errors: { location: string; error: string }[];
  errorCount: number;
}

export interface AgentRow {
  id: string;
  orgId: string;
  name: string;
  keyId: string;
  secretHash: Buffer;
  prefix: string;
  hostname: string | null;
  version: string | null;
  targets: AgentTarget[];
  lastScan: AgentScan | null;
  lastSeenAt: Date | null;
  createdAt: Date;
}

export interface DiscoveredCertificateRow {
  id: string;
  orgId: string;
  agentId: string;
  source: DiscoverySource;
  location: string;
  hasPrivateKey: boolean;
  fingerprintSha256: string;
  serialNumber: string;
  commonName: string;
  subjectDn: string;
  issuerDn: string;
  sanDns: string[];
  sanIp: string[];
  keyAlgorithm: string;
  selfSigned: boolean;
  validFrom: Date;
  validTo: Date;
  certificateDer: Buffer;
  chainPem: string | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** The org's inventory certificate with this fingerprint, when it has one. */
  certificateId: string | null;
}

/** A finding to store: everything but the ids and times, which the store sets. */
export type DiscoveredCertificateInput = Omit<DiscoveredCertificateRow, 'id' | 'firstSeenAt' | 'lastSeenAt' | 'certificateId'>;

export interface DeploymentTargetResult {
  name: string;
  status: DeploymentStatus;
  error: string | null;
}

export interface DeploymentRow {
  id: string;
  orgId: string;
  certificateId: string;
  agentId: string;
  status: DeploymentStatus;
  targets: DeploymentTargetResult[];
  trigger: DeploymentTrigger;
  requestedBy: { type: string; id: string | null; name: string | null };
  claimedAt: Date | null;
  claims: number;
  completedAt: Date | null;
  createdAt: Date;
}

export interface DeployTargetRow {
  certificateId: string;
  agentId: string;
  target: string;
}

type Raw = Record<string, any>;

const agentOf = (r: Raw): AgentRow => ({
  id: r.id, orgId: r.org_id, name: r.name, keyId: r.key_id, secretHash: r.secret_hash, prefix: r.prefix, hostname: r.hostname, version: r.version,
  targets: r.targets, lastScan: r.last_scan, lastSeenAt: r.last_seen_at, createdAt: r.created_at,
});

const discoveredOf = (r: Raw): DiscoveredCertificateRow => ({
  id: r.id, orgId: r.org_id, agentId: r.agent_id, source: r.source, location: r.location, hasPrivateKey: r.has_private_key,
  fingerprintSha256: r.fingerprint_sha256, serialNumber: r.serial_number, commonName: r.common_name, subjectDn: r.subject_dn, issuerDn: r.issuer_dn,
  sanDns: r.san_dns, sanIp: r.san_ip, keyAlgorithm: r.key_algorithm, selfSigned: r.self_signed, validFrom: r.valid_from, validTo: r.valid_to,
  certificateDer: r.certificate_der, chainPem: r.chain_pem, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at, certificateId: r.certificate_id ?? null,
});

const deploymentOf = (r: Raw): DeploymentRow => ({
  id: r.id, orgId: r.org_id, certificateId: r.certificate_id, agentId: r.agent_id, status: r.status, targets: r.targets, trigger: r.trigger,
  requestedBy: r.requested_by, claimedAt: r.claimed_at, claims: r.claims, completedAt: r.completed_at, createdAt: r.created_at,
});

// ---- agents ----

export type AgentInsert = Pick<AgentRow, 'id' | 'orgId' | 'name' | 'keyId' | 'secretHash' | 'prefix'>;

export async function insertAgent(manager: EntityManager, a: AgentInsert): Promise<AgentRow> {
  const rows: Raw[] = await manager.query(
    `INSERT INTO agents (id, org_id, name, key_id, secret_hash, prefix) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [a.id, a.orgId, a.name, a.keyId, a.secretHash, a.prefix],
  );
  return agentOf(rows[0]);
}

/** One page of the org's agents, oldest first, and how many there are. */
export async function agentsPage(manager: EntityManager, orgId: string, page: { offset: number; limit: number }): Promise<{ rows: AgentRow[]; total: number }> {
  const rows: Raw[] = await manager.query(
    `SELECT *, count(*) OVER () AS total FROM agents WHERE org_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT $3`,
    [orgId, page.offset, page.limit],
  );
  const total = rows.length ? Number(rows[0].total) : Number((await manager.query(`SELECT count(*)::int AS n FROM agents WHERE org_id = $1`, [orgId]))[0].n);
  return { rows: rows.map(agentOf), total };
}

export async function agentById(manager: EntityManager, orgId: string, id: string): Promise<AgentRow | null> {
  const rows: Raw[] = await manager.query(`SELECT * FROM agents WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return rows.length ? agentOf(rows[0]) : null;
}

/** The agent whose key has this public id: authenticates an agent's request. */
export async function agentByKeyId(manager: EntityManager, keyId: string): Promise<AgentRow | null> {
  const rows: Raw[] = await manager.query(`SELECT * FROM agents WHERE key_id = $1`, [keyId]);
  return rows.length ? agentOf(rows[0]) : null;
}

/** Delete the agent (its findings, targets and deployments with it); false when the org has no such agent. */
export async function deleteAgent(manager: EntityManager, orgId: string, id: string): Promise<AgentRow | null> {
  // A SELECT around the DELETE: TypeORM hands back the rows of a SELECT as they are ([rows, count] for a bare DELETE or UPDATE).
  const rows: Raw[] = await manager.query(`WITH gone AS (DELETE FROM agents WHERE id = $1 AND org_id = $2 RETURNING *) SELECT * FROM gone`, [id, orgId]);
  return rows.length ? agentOf(rows[0]) : null;
}

/** The agent was heard from at `at`; a heartbeat also says what it runs and which targets it has. */
export async function touchAgent(
  manager: EntityManager, id: string, at: Date, facts?: { hostname: string | null; version: string | null; targets: AgentTarget[] },
): Promise<void> {
  if (!facts) {
    await manager.query(`UPDATE agents SET last_seen_at = greatest(last_seen_at, $2) WHERE id = $1`, [id, at]);
    return;
  }
  await manager.query(
    `UPDATE agents SET last_seen_at = greatest(last_seen_at, $2), hostname = $3, version = $4, targets = $5::jsonb WHERE id = $1`,
    [id, at, facts.hostname, facts.version, JSON.stringify(facts.targets)],
  );
}

/**
 * Add a batch's counts and errors to the agent's scan `scanId` (a new scan id starts over). The row is
 * updated in one statement, so batches of one scan sent at once add up. Errors kept: the first `maxErrors`.
 */
export async function recordAgentScan(
  manager: EntityManager, id: string, scan: { scanId: string; startedAt: string; reported: number; errors: { location: string; error: string }[] }, maxErrors: number,
): Promise<void> {
  await manager.query(
    `UPDATE agents SET last_scan = CASE
        WHEN last_scan IS NULL OR last_scan->>'scanId' IS DISTINCT FROM $2 THEN
          jsonb_build_object('scanId', $2::text, 'startedAt', $3::text, 'reported', $4::int,
                             'errors', (SELECT coalesce(jsonb_agg(e), '[]') FROM (SELECT e FROM jsonb_array_elements($5::jsonb) e LIMIT $6) x),
                             'errorCount', jsonb_array_length($5::jsonb))
        ELSE jsonb_build_object('scanId', $2::text, 'startedAt', last_scan->>'startedAt', 'reported', (last_scan->>'reported')::int + $4,
                             'errors', (SELECT coalesce(jsonb_agg(e), '[]') FROM (SELECT e FROM (
                                 SELECT e FROM jsonb_array_elements(last_scan->'errors') e UNION ALL SELECT e FROM jsonb_array_elements($5::jsonb) e) y LIMIT $6) x),
                             'errorCount', (last_scan->>'errorCount')::int + jsonb_array_length($5::jsonb))
      END WHERE id = $1`,
    [id, scan.scanId, scan.startedAt, scan.reported, JSON.stringify(scan.errors), maxErrors],
  );
}

// ---- discovered certificates ----

/**
 * Store findings of one agent (one row per source and location; a location now holding another
 * certificate starts its firstSeenAt again). One statement for the whole batch.
 */
export async function upsertDiscoveredCertificates(manager: EntityManager, rows: (DiscoveredCertificateInput & { id: string })[], at: Date): Promise<void> {
  if (!rows.length) return;
  const cols = [
    'id', 'org_id', 'agent_id', 'source', 'location', 'has_private_key', 'fingerprint_sha256', 'serial_number', 'common_name', 'subject_dn', 'issuer_dn',
    'san_dns', 'san_ip', 'key_algorithm', 'self_signed', 'valid_from', 'valid_to', 'certificate_der', 'chain_pem',
  ];
  const params: unknown[] = [at];
  const values = rows.map((r) => {
    const row = [
      r.id, r.orgId, r.agentId, r.source, r.location, r.hasPrivateKey, r.fingerprintSha256, r.serialNumber, r.commonName, r.subjectDn, r.issuerDn,
      r.sanDns, r.sanIp, r.keyAlgorithm, r.selfSigned, r.validFrom, r.validTo, r.certificateDer, r.chainPem,
    ];
    const refs = row.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    return `(${refs.join(', ')}, $1, $1)`;
  });
  await manager.query(
    `INSERT INTO discovered_certificates (${cols.join(', ')}, first_seen_at, last_seen_at) VALUES ${values.join(', ')}
     ON CONFLICT (agent_id, source, location) DO UPDATE SET
       first_seen_at = CASE WHEN discovered_certificates.fingerprint_sha256 = EXCLUDED.fingerprint_sha256 THEN discovered_certificates.first_seen_at ELSE EXCLUDED.first_seen_at END,
       last_seen_at = EXCLUDED.last_seen_at,
       ${cols.filter((c) => !['id', 'org_id', 'agent_id', 'source', 'location'].includes(c)).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`,
    params,
  );
}

export interface DiscoveredFilter {
  orgId: string;
  agentId?: string;
  source?: DiscoverySource;
  imported?: boolean;
  expiringInDays?: number;
  now: Date;
}

const IMPORTED_ID = `(SELECT c.id FROM certificates c WHERE c.org_id = d.org_id AND c.fingerprint_sha256 = d.fingerprint_sha256 LIMIT 1)`;

/** One page of an org's findings, soonest expiry first, with the inventory certificate each one is. */
export async function discoveredCertificatesPage(
  manager: EntityManager, f: DiscoveredFilter, page: { offset: number; limit: number },
): Promise<{ rows: DiscoveredCertificateRow[]; total: number }> {
  const where = ['d.org_id = $1'];
  const params: unknown[] = [f.orgId];
  if (f.agentId) where.push(`d.agent_id = $${params.push(f.agentId)}`);
  if (f.source) where.push(`d.source = $${params.push(f.source)}`);
  if (f.imported !== undefined) where.push(`${f.imported ? '' : 'NOT '}EXISTS (SELECT 1 FROM certificates c WHERE c.org_id = d.org_id AND c.fingerprint_sha256 = d.fingerprint_sha256)`);
  if (f.expiringInDays !== undefined) {
    const until = new Date(f.now.getTime() + f.expiringInDays * 86_400_000);
    where.push(`d.valid_to <= $${params.push(until)}`);
  }
  const from = `discovered_certificates d WHERE ${where.join(' AND ')}`;
  const n = params.length;
  const rows: Raw[] = await manager.query(
    `SELECT d.*, ${IMPORTED_ID} AS certificate_id, count(*) OVER () AS total FROM ${from} ORDER BY d.valid_to, d.id OFFSET $${n + 1} LIMIT $${n + 2}`,
    [...params, page.offset, page.limit],
  );
  const total = rows.length ? Number(rows[0].total) : Number((await manager.query(`SELECT count(*)::int AS n FROM ${from}`, params))[0].n);
  return { rows: rows.map(discoveredOf), total };
}

export async function discoveredCertificateById(manager: EntityManager, orgId: string, id: string): Promise<DiscoveredCertificateRow | null> {
  const rows: Raw[] = await manager.query(`SELECT d.*, ${IMPORTED_ID} AS certificate_id FROM discovered_certificates d WHERE d.id = $1 AND d.org_id = $2`, [id, orgId]);
  return rows.length ? discoveredOf(rows[0]) : null;
}

/** Where the org's agents saw the certificate with this fingerprint. */
export async function discoveredLocations(
  manager: EntityManager, orgId: string, fingerprintSha256: string,
): Promise<{ agentId: string; source: DiscoverySource; location: string; lastSeenAt: Date }[]> {
  const rows: Raw[] = await manager.query(
    `SELECT agent_id, source, location, last_seen_at FROM discovered_certificates WHERE org_id = $1 AND fingerprint_sha256 = $2 ORDER BY first_seen_at, id`,
    [orgId, fingerprintSha256],
  );
  return rows.map((r) => ({ agentId: r.agent_id, source: r.source, location: r.location, lastSeenAt: r.last_seen_at }));
}

// ---- deployment targets ----

/** Replace the certificate's deployment targets. */
export async function replaceDeployTargets(manager: EntityManager, orgId: string, certificateId: string, targets: { agentId: string; target: string }[]): Promise<void> {
  await manager.query(`DELETE FROM certificate_deploy_targets WHERE certificate_id = $1`, [certificateId]);
  for (const t of targets) {
    await manager.query(
      `INSERT INTO certificate_deploy_targets (id, org_id, certificate_id, agent_id, target) VALUES (gen_random_uuid(), $1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [orgId, certificateId, t.agentId, t.target],
    );
  }
}

export async function deployTargetsOf(manager: EntityManager, certificateIds: string[]): Promise<DeployTargetRow[]> {
  if (!certificateIds.length) return [];
  const rows: Raw[] = await manager.query(
    `SELECT certificate_id, agent_id, target FROM certificate_deploy_targets WHERE certificate_id = ANY($1::uuid[]) ORDER BY created_at, target`,
    [certificateIds],
  );
  return rows.map((r) => ({ certificateId: r.certificate_id, agentId: r.agent_id, target: r.target }));
}

/**
 * Move the agent's deployment targets whose certificate was renewed to the newest active certificate of
 * its line and queue one deployment per certificate reached (trigger `renewal`); returns them. Rows are
 * locked SKIP LOCKED, so two gateways polling for the same agent move each target once.
 */
export async function carryDeployTargetsForward(manager: EntityManager, agentId: string): Promise<DeploymentRow[]> {
  const moved: Raw[] = await manager.query(
    `WITH RECURSIVE due AS (
        SELECT t.id, t.org_id, t.certificate_id, t.target FROM certificate_deploy_targets t JOIN certificates c ON c.id = t.certificate_id
         WHERE t.agent_id = $1 AND c.superseded_by_id IS NOT NULL
         FOR UPDATE OF t SKIP LOCKED
      ), line (target_row, cert_id, n) AS (
        SELECT due.id, c.superseded_by_id, 1 FROM due JOIN certificates c ON c.id = due.certificate_id
        UNION ALL
        SELECT line.target_row, c.superseded_by_id, line.n + 1 FROM line JOIN certificates c ON c.id = line.cert_id
         WHERE c.superseded_by_id IS NOT NULL AND line.n < 1000
      ), newest AS (
        SELECT DISTINCT ON (target_row) target_row, cert_id FROM line ORDER BY target_row, n DESC
      ), taken AS (
        -- A target already set on the newest certificate by hand needs no second row.
        DELETE FROM certificate_deploy_targets t USING newest, due
         WHERE t.id = newest.target_row AND due.id = t.id
           AND EXISTS (SELECT 1 FROM certificate_deploy_targets o WHERE o.certificate_id = newest.cert_id AND o.agent_id = $1 AND o.target = due.target)
        RETURNING t.id
      ), updated AS (
        UPDATE certificate_deploy_targets t SET certificate_id = newest.cert_id FROM newest
         WHERE t.id = newest.target_row AND t.id NOT IN (SELECT id FROM taken)
        RETURNING t.org_id, t.certificate_id, t.target
      )
      SELECT u.org_id, u.certificate_id, array_agg(u.target ORDER BY u.target) AS targets
        FROM updated u JOIN certificates c ON c.id = u.certificate_id AND c.status = 'active'
       GROUP BY u.org_id, u.certificate_id`,
    [agentId],
  );
  const created: DeploymentRow[] = [];
  for (const m of moved) {
    created.push(await insertDeployment(manager, {
      orgId: m.org_id, certificateId: m.certificate_id, agentId, targets: m.targets, trigger: 'renewal',
      requestedBy: { type: 'system', id: null, name: 'renewal' },
    }));
  }
  return created;
}

// ---- deployments ----

export async function insertDeployment(
  manager: EntityManager, d: { orgId: string; certificateId: string; agentId: string; targets: string[]; trigger: DeploymentTrigger; requestedBy: DeploymentRow['requestedBy'] },
): Promise<DeploymentRow> {
  const targets = d.targets.map((name) => ({ name, status: 'pending', error: null }));
  const rows: Raw[] = await manager.query(
    `INSERT INTO deployments (id, org_id, certificate_id, agent_id, targets, trigger, requested_by) VALUES (gen_random_uuid(), $1, $2, $3, $4::jsonb, $5, $6::jsonb) RETURNING *`,
    [d.orgId, d.certificateId, d.agentId, JSON.stringify(targets), d.trigger, JSON.stringify(d.requestedBy)],
  );
  return deploymentOf(rows[0]);
}

export async function deploymentById(manager: EntityManager, orgId: string, id: string): Promise<DeploymentRow | null> {
  const rows: Raw[] = await manager.query(`SELECT * FROM deployments WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return rows.length ? deploymentOf(rows[0]) : null;
}

/** The certificate's deployments, newest first (at most `limit`). */
export async function deploymentsOfCertificate(manager: EntityManager, orgId: string, certificateId: string, limit: number): Promise<DeploymentRow[]> {
  const rows: Raw[] = await manager.query(
    `SELECT * FROM deployments WHERE certificate_id = $1 AND org_id = $2 ORDER BY created_at DESC, id LIMIT $3`, [certificateId, orgId, limit],
  );
  return rows.map(deploymentOf);
}

/**
 * Hand the agent its oldest pending deployment: one never claimed, one claimed by another run of the
 * agent (`session`: a process that died mid-deploy; the agent reports before it claims again), or one
 * whose claim is older than `leaseMs`. Null when there is none.
 */
export async function claimDeployment(manager: EntityManager, agentId: string, session: string, at: Date, leaseMs: number): Promise<DeploymentRow | null> {
  const rows: Raw[] = await manager.query(
    `WITH claimed AS (
       UPDATE deployments SET claimed_at = $3, claimed_by_session = $2, claims = claims + 1
        WHERE id = (SELECT id FROM deployments
                     WHERE agent_id = $1 AND status = 'pending'
                       AND (claimed_at IS NULL OR claimed_by_session IS DISTINCT FROM $2 OR claimed_at < $4)
                     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *)
     SELECT * FROM claimed`,
    [agentId, session, at, new Date(at.getTime() - leaseMs)],
  );
  return rows.length ? deploymentOf(rows[0]) : null;
}

/**
 * Record the agent's result of a pending deployment of its own; returns the row as it then stands and
 * whether this call settled it (false: it was settled before, by an earlier copy of the same report).
 */
export async function settleDeployment(
  manager: EntityManager, agentId: string, id: string, targets: DeploymentTargetResult[], at: Date,
): Promise<{ row: DeploymentRow; settled: boolean } | null> {
  const status: DeploymentStatus = targets.every((t) => t.status === 'succeeded') ? 'succeeded' : 'failed';
  const rows: Raw[] = await manager.query(
    `WITH settled AS (UPDATE deployments SET status = $3, targets = $4::jsonb, completed_at = $5 WHERE id = $1 AND agent_id = $2 AND status = 'pending' RETURNING *)
     SELECT * FROM settled`,
    [id, agentId, status, JSON.stringify(targets), at],
  );
  if (rows.length) return { row: deploymentOf(rows[0]), settled: true };
  const existing: Raw[] = await manager.query(`SELECT * FROM deployments WHERE id = $1 AND agent_id = $2`, [id, agentId]);
  return existing.length ? { row: deploymentOf(existing[0]), settled: false } : null;
}
