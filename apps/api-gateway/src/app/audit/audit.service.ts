/**
 * The gateway's audit writer.
 *
 * State changes are recorded by the service that makes them, in the same transaction (`record` with
 * the transaction's manager), so a change and its event commit or vanish together. Refused and failed
 * requests are recorded when the response finishes (`recordFailure`), batched into one INSERT per
 * ~50 ms so a flood of bad requests costs a few statements, not one per request.
 *
 * Noise is counted, not written a row each (issue 18, finding 6): a 4xx of a request without a valid key
 * (`auth.failed` for a 401) and every 429 (`rateLimit.exceeded`) adds to one event per
 * AUDIT_NOISE_WINDOW_SECONDS and (org, key, client IP, event type, error code), written when the window
 * ends with `details.count`, first and last time, statuses and up to 10 sample paths. Each gateway
 * process counts its own requests. A refusal of a verified key other than 429 is still an event of its
 * own (the key's rate limit bounds those), and so is every 5xx.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AuditEventInput, AuditOutcome, insertAuditEvents } from '@signet/persistence';
import { textFault } from '@signet/pki';
import type { ApiError } from '@signet/service';
import { DataSource, EntityManager } from 'typeorm';
import { actorOf } from '../access/principal';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import type { GatewayRequest } from '../request-context';
import { Caller, callerOf } from '../access/caller';
import type { Principal } from '../access/principal';

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
/** Distinct noise counters one window may hold; past it the window is written early. */
const MAX_NOISE_COUNTERS = 10_000;
const MAX_SAMPLE_PATHS = 10;

/** One counted kind of noise in the current window. */
interface NoiseCounter {
  event: AuditEventInput;
  count: number;
  firstAt: Date;
  lastAt: Date;
  statuses: Set<number>;
  paths: Set<string>;
}

/** The route's `:id` parameter, when it is text a store can carry. */
const idParamOf = (req: GatewayRequest): string | null => {
  const id = (req.params as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' && !textFault(id) ? id : null;
};

@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private pending: AuditEventInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private noise = new Map<string, NoiseCounter>();
  private noiseTimer: NodeJS.Timeout | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  /** The event of a state change made by `req`, written with `manager` (inside its transaction). */
  async record(caller: Caller, facts: AuditFacts, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await insertAuditEvents(manager, [eventOf(caller, facts)]);
  }

  /** A refused or failed request; buffered (noise: counted), never throws. */
  recordFailure(req: GatewayRequest, status: number, error: ApiError | undefined): void {
    const route = req.auditRoute;
    const failure = error ? { code: error.code, message: error.message } : { code: 'http_' + status, message: `HTTP ${status}` };
    // A refused path may hold text no store takes (a NUL): it would sink the whole batch of events.
    const rawPath = req.originalUrl.split('?')[0].slice(0, 512);
    const path = textFault(rawPath) ? '[unprintable]' : rawPath;
    const noise = status === 429 || (status < 500 && !req.principal);
    if (noise) {
      const eventType = status === 429 ? 'rateLimit.exceeded' : status === 401 ? 'auth.failed' : route?.eventType ?? 'http.request';
      return this.count(eventOf(callerOf(req), { eventType, outcome: 'failed', details: {} }, failure), status, path);
    }
    this.pending.push(
      eventOf(callerOf(req), {
        eventType: route?.eventType ?? 'http.request',
        outcome: 'failed',
        resourceType: route?.resourceType,
        resourceId: idParamOf(req),
        details: { method: req.method, path, status, requestId: req.id },
      }, failure),
    );
    if (this.pending.length >= MAX_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  /** One more of a kind of noise in this window. */
  private count(event: AuditEventInput, status: number, path: string): void {
    const key = JSON.stringify([event.orgId, event.actorId, event.ip, event.eventType, event.error?.code]);
    const now = new Date();
    let counter = this.noise.get(key);
    if (!counter) {
      if (this.noise.size >= MAX_NOISE_COUNTERS) this.endNoiseWindow();
      counter = { event, count: 0, firstAt: now, lastAt: now, statuses: new Set(), paths: new Set() };
      this.noise.set(key, counter);
    }
    counter.count++;
    counter.lastAt = now;
    counter.statuses.add(status);
    if (counter.paths.size < MAX_SAMPLE_PATHS) counter.paths.add(path);
    this.noiseTimer ??= setTimeout(() => this.endNoiseWindow(), this.config.AUDIT_NOISE_WINDOW_SECONDS * 1000);
  }

  /** The window's counters become events (in the next batch). */
  private endNoiseWindow(): void {
    if (this.noiseTimer) clearTimeout(this.noiseTimer);
    this.noiseTimer = null;
    const counters = [...this.noise.values()];
    this.noise = new Map();
    for (const c of counters) {
      this.pending.push({
        ...c.event,
        at: c.lastAt,
        durationMs: null,
        details: {
          count: c.count, firstAt: c.firstAt.toISOString(), lastAt: c.lastAt.toISOString(), windowSeconds: this.config.AUDIT_NOISE_WINDOW_SECONDS,
          statuses: [...c.statuses].sort(), paths: [...c.paths],
        },
      });
    }
    if (counters.length) this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  /** Write what is buffered now, the open noise window's counts included. */
  async flush(): Promise<void> {
    if (this.noise.size) this.endNoiseWindow();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const events = this.pending;
    this.pending = [];
    // In statements of MAX_BATCH rows: a window's counters may be thousands, past PostgreSQL's 65,535 parameters.
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const batch = events.slice(i, i + MAX_BATCH);
      await insertAuditEvents(this.dataSource.manager, batch).catch((err: Error) =>
        this.logger.error({ err, events: batch.length }, 'could not write audit events of failed requests'),
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}

function eventOf(caller: Caller<Principal | undefined>, facts: AuditFacts, error: { code: string; message: string } | null = null): AuditEventInput {
  const principal = caller.principal;
  const actor = actorOf(principal) ?? { actorType: 'apiKey' as const, actorId: null, actorName: null };
  return {
    orgId: facts.orgId !== undefined ? facts.orgId : principal && principal.type !== 'platform' ? principal.orgId : null,
    eventType: facts.eventType,
    outcome: facts.outcome ?? (error ? 'failed' : 'success'),
    ...actor,
    ip: caller.ip,
    resourceType: facts.resourceType ?? null,
    resourceId: facts.resourceId ?? null,
    details: facts.details ?? {},
    error,
    durationMs: caller.startedAt ? Date.now() - caller.startedAt : null,
  };
}
