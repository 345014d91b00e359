/**
 * The `data` of each delivery: the resource an event is about, as it stands when the event is
 * dispatched (within a second or two of it), in the API's own shapes.
 * - certificate.issued / renewed / expiring / expired: `{certificate}` (API.md's certificate object, no
 *   PEM; a renewal's `renewedFromId` is in it), plus `daysBefore` for expiring;
 * - certificate.revoked: `{certificate, reason}`; certificate.renewal_failed: `{certificate, error}`;
 * - approval.requested: `{approval}`; approval.decided: `{approval, decision: approved|rejected}`;
 * - events recorded under their own name (deployments): `{resourceId, details}` of the audit event;
 * - ping: `{webhookId, message}`.
 */
import {
  ApprovalEntity, CertificateJson, DispatchableAuditEvent, approvalsByIds, certificateJson, certificatesById,
} from '@signet/persistence';
import type { EntityManager } from 'typeorm';
import type { MappedEvent } from './webhook-events';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type EventData = Record<string, unknown>;

/** What a webhook is told of an approval (no request body, no key material). */
const approvalData = (a: ApprovalEntity) => ({
  id: a.id, profileId: a.profileId, caId: a.caId, status: a.status,
  commonName: ((a.request as { display?: { commonName?: string | null } }).display?.commonName) ?? null,
  requestedBy: a.requestedBy, decidedBy: a.decidedBy, decidedAt: a.decidedAt?.toISOString() ?? null, reason: a.reason,
  certificateId: a.certificateId, createdAt: a.createdAt.toISOString(), expiresAt: a.expiresAt.toISOString(),
});

/** The certificates and approvals a batch of events is about, loaded in two queries, each only for its own org. */
export class EventResources {
  private constructor(
    private readonly certificates: Map<string, { orgId: string; json: CertificateJson }>,
    private readonly approvals: Map<string, ApprovalEntity>,
  ) {}

  static async load(manager: EntityManager, refs: { resource: MappedEvent['resource']; id: string | null }[]): Promise<EventResources> {
    // Ids come from audit rows (a refused request records whatever path it was given): only UUIDs reach a query.
    const idsOf = (resource: MappedEvent['resource']) => [...new Set(refs.filter((r) => r.resource === resource && r.id && UUID.test(r.id)).map((r) => r.id as string))];
    const certificateIds = idsOf('certificate');
    const certificates = certificateIds.length ? await certificatesById(manager, certificateIds) : new Map();
    const approvals = await approvalsByIds(manager, idsOf('approval'));
    const now = Date.now();
    return new EventResources(
      new Map([...certificates.values()].map((row) => [row.id, { orgId: row.orgId, json: certificateJson(row, now) }])),
      new Map(approvals.map((row) => [row.id, row])),
    );
  }

  certificate(id: string | null, orgId: string): CertificateJson | null {
    const found = id ? this.certificates.get(id) : undefined;
    return found && found.orgId === orgId ? found.json : null;
  }

  /** The data of an audit event mapped to `m`; null when its resource is gone or not the event's org's. */
  dataOf(e: DispatchableAuditEvent, m: MappedEvent): EventData | null {
    const orgId = e.orgId as string;
    if (m.resource === 'certificate') {
      const certificate = this.certificate(m.resourceId, orgId);
      if (!certificate) return null;
      if (m.event === 'certificate.revoked') return { certificate, reason: (e.details.reason as string | undefined) ?? certificate.revocationReason };
      if (m.event === 'certificate.renewal_failed') return { certificate, error: e.error ?? (e.details.error as unknown) ?? null };
      return { certificate };
    }
    if (m.resource === 'approval') {
      const approval = m.resourceId ? this.approvals.get(m.resourceId) : undefined;
      if (!approval || approval.orgId !== orgId) return null;
      if (m.event === 'approval.decided') return { approval: approvalData(approval), decision: e.eventType === 'approval.rejected' ? 'rejected' : 'approved' };
      return { approval: approvalData(approval) };
    }
    return { resourceId: e.resourceId, details: e.details };
  }
}
