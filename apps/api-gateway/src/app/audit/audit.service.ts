/**
 * The gateway's audit writer.
 *
 * State changes are recorded by the service that makes them, in the same transaction (`record` with
 * the transaction's manager), so a change and its event commit or vanish together. Refused and failed
 * requests are recorded when the response finishes (`recordFailure`), batched into one INSERT per
 * ~50 ms so a flood of bad requests costs a few statements, not one per request.
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AuditEventInput, AuditOutcome, insertAuditEvents } from '@signet/persistence';
import { textFault } from '@signet/pki';
import type { ApiError } from '@signet/service';
import { DataSource, EntityManager } from 'typeorm';
import { actorOf } from '../access/principal';
import { GatewayRequest, clientIp } from '../request-context';

export interface AuditFacts {
  eventType: string;
  outcome?: AuditOutcome;
  resourceType?: string;
  resourceId?: string | null;
  details?: Record<string, unknown>;
  /** The org the event belongs to, when it is not the caller's own (platform actions). */
  orgId?: string | null;
}

const FLUSH_EVERY_MS = 50;
const MAX_BATCH = 500;

@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private pending: AuditEventInput[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The event of a state change made by `req`, written with `manager` (inside its transaction). */
  async record(req: GatewayRequest, facts: AuditFacts, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await insertAuditEvents(manager, [eventOf(req, facts)]);
  }

  /** A refused or failed request; buffered, never throws. */
  recordFailure(req: GatewayRequest, status: number, error: ApiError | undefined): void {
    const route = req.auditRoute;
    this.pending.push(
      eventOf(req, {
        eventType: route?.eventType ?? 'http.request',
        outcome: 'failed',
        resourceType: route?.resourceType,
        // A refused id may be text no store takes (a NUL): it would sink the whole batch of events.
        resourceId: typeof req.params?.id === 'string' && !textFault(req.params.id) ? req.params.id : null,
        details: { method: req.method, path: req.originalUrl.split('?')[0].slice(0, 512), status, requestId: req.id },
      }, error ? { code: error.code, message: error.message } : { code: 'http_' + status, message: `HTTP ${status}` }),
    );
    if (this.pending.length >= MAX_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    await insertAuditEvents(this.dataSource.manager, batch).catch((err: Error) =>
      this.logger.error({ err, events: batch.length }, 'could not write audit events of failed requests'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}

function eventOf(req: GatewayRequest, facts: AuditFacts, error: { code: string; message: string } | null = null): AuditEventInput {
  const principal = req.principal;
  const actor = actorOf(principal) ?? { actorType: 'apiKey' as const, actorId: null, actorName: null };
  return {
    orgId: facts.orgId !== undefined ? facts.orgId : principal?.type === 'org' ? principal.orgId : null,
    eventType: facts.eventType,
    outcome: facts.outcome ?? (error ? 'failed' : 'success'),
    ...actor,
    ip: clientIp(req),
    resourceType: facts.resourceType ?? null,
    resourceId: facts.resourceId ?? null,
    details: facts.details ?? {},
    error,
    durationMs: req.startedAt ? Date.now() - req.startedAt : null,
  };
}
