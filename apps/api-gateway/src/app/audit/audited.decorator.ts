/**
 * Names a route for the audit log: `@Audited('apiKey.create', 'apiKey')`. Refused and failed calls of
 * the route are recorded under this event type; routes without it are recorded as `http.request`.
 */
import { SetMetadata } from '@nestjs/common';
import type { AuditRoute } from '../request-context';

export const AUDIT_ROUTE = 'signet:audit-route';

export const Audited = (eventType: string, resourceType?: string) =>
  SetMetadata(AUDIT_ROUTE, { eventType, resourceType } satisfies AuditRoute);
