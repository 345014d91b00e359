/**
 * Turns what happened into deliveries, in the gateway processes (WEBHOOK_WORKER), one of them at a time.
 *
 * Events: the audit log is the outbox. Every WEBHOOK_DISPATCH_INTERVAL_MS a dispatcher locks the one
 * cursor row (FOR UPDATE SKIP LOCKED: another replica holding it is dispatching, this one skips), reads
 * the audit events after it in seq order, inserts a delivery per webhook event and subscribed enabled
 * webhook of the event's org (ON CONFLICT DO NOTHING on (webhook, `audit:<seq>`)), and moves the cursor,
 * all in one transaction; after the commit it enqueues the new deliveries. A crash between the two
 * leaves deliveries never attempted, which a periodic pass enqueues again (the job id is the delivery
 * id, so a delivery that has a job is not doubled).
 *
 * Gaps: seq is taken when an event is inserted, not when it commits, so event 7 may be visible while 6
 * is still in an open transaction (or was rolled back, and never will be). The dispatcher stops before
 * the first missing seq and records the database's snapshot; the gap is passed once every transaction
 * open in that snapshot has ended and GAP_MIN_WAIT_MS has passed (a seq from a rolled-back or crashed
 * transaction), or, past GAP_MAX_WAIT_MS, with a warning (a transaction left open that long).
 *
 * Expiry notices: every WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS one sweep (a transaction-scoped advisory lock)
 * inserts the notices now due (certificate_expiry_notices, one row per certificate and threshold, ON
 * CONFLICT DO NOTHING) with their deliveries in the same transaction: a notice is sent by the sweep that
 * inserted it, once, whatever the number of replicas or restarts.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  DispatchableAuditEvent, NewWebhookDelivery, advanceWebhookCursor, auditEventsAfter, currentSnapshot, enabledWebhooksOf, insertDueExpiryNotices,
  insertWebhookDeliveries, lockWebhookCursor, purgeSettledWebhookDeliveries, snapshotSettled, tryTransactionLock, untriedWebhookDeliveries,
} from '@signet/persistence';
import { Clock } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { WebhookDeliveries } from './webhook-deliveries.queue';
import { MappedEvent, WebhookEvent, webhookEventOf } from './webhook-events';
import { EventData, EventResources } from './webhook-payloads';

const EVENT_BATCH = 2000;
/** Batches one tick may dispatch before it lets the next tick (and shutdown) in. */
const MAX_BATCHES_PER_TICK = 20;
const NOTICE_BATCH = 1000;
const GAP_MIN_WAIT_MS = 1000;
const GAP_MAX_WAIT_MS = 5 * 60_000;
/** Deliveries not attempted this long after their insert are enqueued again. */
const UNTRIED_AFTER_MS = 60_000;
const REQUEUE_EVERY_MS = 30_000;
/** Delivered and failed deliveries are kept this long in the delivery log. */
const DELIVERY_LOG_DAYS = 30;
const DAY_MS = 86_400_000;

/** A webhook of an org: what it subscribes to. */
type Subscriber = { id: string; events: string[] };

@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WebhookDispatcher');
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;
  /** The first missing seq the dispatcher waits on, the snapshot when it was first seen, and when. */
  private gap: { seq: number; snapshot: string; seenAt: number } | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly deliveries: WebhookDeliveries,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.WEBHOOK_WORKER) return;
    this.every('dispatch', this.config.WEBHOOK_DISPATCH_INTERVAL_MS, () => this.dispatch());
    this.every('expiry sweep', this.config.WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS, () => this.sweepExpiry());
    this.every('requeue', REQUEUE_EVERY_MS, () => this.requeueUntried());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.allSettled([...this.running]);
  }

  /** Run `work` now and then `ms` after each run ends, until shutdown; a failed run is logged and the next one tries again. */
  private every(name: string, ms: number, work: () => Promise<unknown>): void {
    const run = () => {
      if (this.stopped) return;
      const done = work()
        .catch((error: Error) => this.logger.warn({ err: error.message }, `webhook ${name} failed; trying again in ${ms} ms`))
        .finally(() => {
          this.running.delete(done);
          if (this.stopped) return;
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            run();
          }, ms);
          this.timers.add(timer);
        });
      this.running.add(done);
    };
    run();
  }

  /** Dispatch what the audit log holds after the cursor; returns how many deliveries were made. */
  async dispatch(): Promise<number> {
    let made = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_TICK && !this.stopped; batch++) {
      const { created, more } = await this.dataSource.transaction((manager) => this.dispatchBatch(manager));
      await this.deliveries.enqueue(created);
      made += created.length;
      if (!more) break;
    }
    return made;
  }

  private async dispatchBatch(manager: EntityManager): Promise<{ created: string[]; more: boolean }> {
    const cursor = await lockWebhookCursor(manager);
    if (cursor === null) return { created: [], more: false };
    const events = await auditEventsAfter(manager, cursor, EVENT_BATCH);
    const { ready, upTo } = await this.contiguous(manager, cursor, events);
    if (upTo === cursor) return { created: [], more: false };
    const created = await insertWebhookDeliveries(manager, await this.deliveriesOf(manager, ready));
    await advanceWebhookCursor(manager, upTo);
    return { created, more: ready.length === events.length && events.length === EVENT_BATCH };
  }

  /** The events before the first gap that may still fill, and the seq the cursor may move to. */
  private async contiguous(manager: EntityManager, cursor: number, events: DispatchableAuditEvent[]) {
    let upTo = cursor;
    let count = 0;
    for (const e of events) {
      if (e.seq !== upTo + 1 && !(await this.gapPassed(manager, upTo + 1))) break;
      upTo = e.seq;
      count++;
    }
    return { ready: events.slice(0, count), upTo };
  }

  private async gapPassed(manager: EntityManager, missing: number): Promise<boolean> {
    const now = Date.now();
    if (this.gap?.seq !== missing) {
      this.gap = { seq: missing, snapshot: await currentSnapshot(manager), seenAt: now };
      return false;
    }
    const waited = now - this.gap.seenAt;
    if (waited < GAP_MIN_WAIT_MS) return false;
    if (!(await snapshotSettled(manager, this.gap.snapshot))) {
      if (waited < GAP_MAX_WAIT_MS) return false;
      this.logger.warn({ seq: missing, waitedMs: waited }, 'audit events are held by a transaction open for minutes: dispatching past them (their webhooks, if any, are not sent)');
    }
    this.gap = null;
    return true;
  }

  /** The deliveries of these audit events: each webhook event to each subscribed enabled webhook of its org. */
  private async deliveriesOf(manager: EntityManager, events: DispatchableAuditEvent[]): Promise<NewWebhookDelivery[]> {
    const mapped = events.map((e) => ({ e, m: webhookEventOf(e) })).filter((x): x is { e: DispatchableAuditEvent; m: MappedEvent } => x.m !== null);
    if (!mapped.length) return [];
    const subscribers = await this.subscribersOf(manager, mapped.map((x) => x.e.orgId as string));
    const wanted = mapped.filter((x) => subscribers.get(x.e.orgId as string)?.some((w) => w.events.includes(x.m.event)));
    if (!wanted.length) return [];
    const resources = await EventResources.load(manager, wanted.map((x) => ({ resource: x.m.resource, id: x.m.resourceId })));
    return wanted.flatMap(({ e, m }) => {
      const data = resources.dataOf(e, m);
      return data ? this.fanOut(subscribers.get(e.orgId as string) ?? [], m.event, data, `audit:${e.seq}`, e.at) : [];
    });
  }

  private async subscribersOf(manager: EntityManager, orgIds: string[]): Promise<Map<string, Subscriber[]>> {
    const byOrg = new Map<string, Subscriber[]>();
    for (const w of await enabledWebhooksOf(manager, [...new Set(orgIds)])) byOrg.set(w.orgId, [...(byOrg.get(w.orgId) ?? []), w]);
    return byOrg;
  }

  private fanOut(webhooks: Subscriber[], event: WebhookEvent, data: EventData, sourceKey: string, at: Date): NewWebhookDelivery[] {
    return webhooks.filter((w) => w.events.includes(event)).map((w) => ({ id: randomUUID(), webhookId: w.id, event, payload: data, sourceKey, createdAt: at }));
  }

  /** Record the expiry notices now due and make their deliveries; returns how many deliveries were made. */
  async sweepExpiry(): Promise<number> {
    let made = 0;
    for (let full = true; full && !this.stopped;) {
      const batch = await this.dataSource.transaction(async (manager) => {
        if (!(await tryTransactionLock(manager, 'signet.webhooks.expiry-sweep'))) return { created: [], full: false };
        const now = this.clock.now();
        const notices = await insertDueExpiryNotices(manager, now, NOTICE_BATCH);
        if (!notices.length) return { created: [], full: false };
        const subscribers = await this.subscribersOf(manager, notices.map((n) => n.orgId));
        const resources = await EventResources.load(manager, notices.map((n) => ({ resource: 'certificate' as const, id: n.certificateId })));
        const deliveries = notices.flatMap((n) => {
          const certificate = resources.certificate(n.certificateId, n.orgId);
          if (!certificate) return [];
          const [event, data] = n.daysBefore === 0 ? ['certificate.expired' as const, { certificate }] : ['certificate.expiring' as const, { certificate, daysBefore: n.daysBefore }];
          return this.fanOut(subscribers.get(n.orgId) ?? [], event, data, `expiry:${n.certificateId}:${n.daysBefore}`, now);
        });
        return { created: await insertWebhookDeliveries(manager, deliveries), full: notices.length === NOTICE_BATCH };
      });
      await this.deliveries.enqueue(batch.created);
      made += batch.created.length;
      full = batch.full;
    }
    await purgeSettledWebhookDeliveries(this.dataSource.manager, new Date(this.clock.now().getTime() - DELIVERY_LOG_DAYS * DAY_MS), 10_000);
    return made;
  }

  /** Enqueue again the deliveries never attempted (their gateway died before enqueuing them, or Redis lost them). */
  async requeueUntried(): Promise<number> {
    const ids = await untriedWebhookDeliveries(this.dataSource.manager, new Date(Date.now() - UNTRIED_AFTER_MS), 1000);
    await this.deliveries.enqueue(ids);
    return ids.length;
  }
}
