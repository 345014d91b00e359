/**
 * The webhook events of API.md section 9, and which audit events they are. Every state change is an
 * audit event written in the transaction that makes it (the signer's issuance, renewal and revocation,
 * the gateway's approvals), so the audit log is the outbox: the dispatcher reads it in order and turns
 * the events below into deliveries. Expiry notices are not audit events; the expiry sweep makes them.
 */
import type { DispatchableAuditEvent } from '@signet/persistence';

export const WEBHOOK_EVENTS = [
  'certificate.issued',
  'certificate.renewed',
  'certificate.renewal_failed',
  'certificate.revoked',
  'certificate.expiring',
  'certificate.expired',
  'approval.requested',
  'approval.decided',
  'deployment.succeeded',
  'deployment.failed',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The event of a test delivery (POST /api/v1/webhooks/:id/test); every webhook gets it, none subscribes to it. */
export const PING_EVENT = 'ping';

/** What an audit event tells a webhook: the event, and the resource its data describes. */
export interface MappedEvent {
  event: WebhookEvent;
  resource: 'certificate' | 'approval' | 'none';
  resourceId: string | null;
}

/** Audit events that are webhook events under another name (outcome included). */
const AUDIT_EVENTS: Record<string, { outcomes: string[]; event: WebhookEvent; resource: MappedEvent['resource'] }[]> = {
  'certificate.issue': [{ outcomes: ['success'], event: 'certificate.issued', resource: 'certificate' }],
  'certificate.renew': [
    { outcomes: ['success'], event: 'certificate.renewed', resource: 'certificate' },
    // A renewal the API refused or could not finish (recorded against the certificate it was to renew).
    { outcomes: ['failed'], event: 'certificate.renewal_failed', resource: 'certificate' },
  ],
  'certificate.revoke': [{ outcomes: ['success'], event: 'certificate.revoked', resource: 'certificate' }],
  'approval.requested': [{ outcomes: ['pending', 'success'], event: 'approval.requested', resource: 'approval' }],
  'approval.approved': [{ outcomes: ['success'], event: 'approval.decided', resource: 'approval' }],
  'approval.rejected': [{ outcomes: ['success'], event: 'approval.decided', resource: 'approval' }],
};

/**
 * Audit events named as the webhook event itself, sent as they are: for producers that record them
 * (a renewal sweep recording `certificate.renewal_failed`, agents recording deployments).
 */
const AS_NAMED: Partial<Record<WebhookEvent, MappedEvent['resource']>> = {
  'certificate.renewal_failed': 'certificate',
  'deployment.succeeded': 'none',
  'deployment.failed': 'none',
};

/** The webhook event an audit event is, or null when it is none (most are not). Events of no org are never sent. */
export function webhookEventOf(e: Pick<DispatchableAuditEvent, 'eventType' | 'outcome' | 'orgId' | 'resourceId'>): MappedEvent | null {
  if (!e.orgId) return null;
  const mapped = AUDIT_EVENTS[e.eventType]?.find((m) => m.outcomes.includes(e.outcome));
  if (mapped) return { event: mapped.event, resource: mapped.resource, resourceId: e.resourceId };
  const resource = AS_NAMED[e.eventType as WebhookEvent];
  return resource ? { event: e.eventType as WebhookEvent, resource, resourceId: e.resourceId } : null;
}
