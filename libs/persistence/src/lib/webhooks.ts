/**
 * Webhooks (API.md section 9): endpoints, their deliveries, the dispatcher's cursor over the audit log
 * and the expiry notices. Exactly-once lives here, in the database: a delivery is one row per
 * (webhook, source_key) and an expiry notice one row per (certificate, days before), both inserted with
 * ON CONFLICT DO NOTHING, so only the inserter of a row ever sends it; the cursor row is locked (SKIP
 * LOCKED) by one dispatcher at a time and moves in the transaction that inserts the deliveries.
 */
import { EntityManager, In } from 'typeorm';
import { ApprovalEntity } from './entities/approval.entity';

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookRow {
  id: string;
  orgId: string;
  url: string;
  events: string[];
  description: string | null;
  encryptedSecret: Buffer;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDeliveryRow {
  id: string;
  webhookId: string;
  event: string;
  payload: Record<string, unknown>;
  sourceKey: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** A delivery to insert: `sourceKey` names what it tells (`audit:<seq>`, `expiry:<certificate>:<days>`, `ping:<id>`). */
export type NewWebhookDelivery = Pick<WebhookDeliveryRow, 'id' | 'webhookId' | 'event' | 'payload' | 'sourceKey' | 'createdAt'>;

/** What the deliverer needs of a delivery and its endpoint. */
export interface DeliveryToSend extends WebhookDeliveryRow {
  orgId: string;
  url: string;
  encryptedSecret: Buffer;
  enabled: boolean;
}

type Raw = Record<string, any>;

const webhookOf = (r: Raw): WebhookRow => ({
  id: r.id, orgId: r.org_id, url: r.url, events: r.events, description: r.description, encryptedSecret: r.encrypted_secret, enabled: r.enabled,
  createdAt: r.created_at, updatedAt: r.updated_at,
});

const deliveryOf = (r: Raw): WebhookDeliveryRow => ({
  id: r.id, webhookId: r.webhook_id, event: r.event, payload: r.payload, sourceKey: r.source_key, status: r.status, attempts: r.attempts,
  lastStatusCode: r.last_status_code, lastError: r.last_error, createdAt: r.created_at, deliveredAt: r.delivered_at,
});

/** One page of `SELECT * FROM <from>` in `order`, and how many rows there are on all pages (one query unless the page is past the end). */
async function pageOf<T>(
  manager: EntityManager, from: string, params: unknown[], order: string, page: { offset: number; limit: number }, map: (r: Raw) => T,
): Promise<{ rows: T[]; total: number }> {
  const n = params.length;
  const rows: Raw[] = await manager.query(`SELECT *, count(*) OVER () AS total FROM ${from} ORDER BY ${order} OFFSET $${n + 1} LIMIT $${n + 2}`, [...params, page.offset, page.limit]);
  const total = rows.length ? Number(rows[0].total) : Number((await manager.query(`SELECT count(*)::int AS n FROM ${from}`, params))[0].n);
  return { rows: rows.map(map), total };
}

// ---- endpoints ----

/**
 * Serialize the webhook writes of one org until the transaction ends (so a count taken under it
 * holds), and answer how many webhooks the org has.
 */
export async function lockOrgWebhooks(manager: EntityManager, orgId: string): Promise<number> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('signet.webhooks:' || $1, 0))`, [orgId]);
  return (await manager.query(`SELECT count(*)::int AS n FROM webhooks WHERE org_id = $1`, [orgId]))[0].n;
}

export async function insertWebhook(manager: EntityManager, row: Pick<WebhookRow, 'id' | 'orgId' | 'url' | 'events' | 'description' | 'encryptedSecret'>): Promise<WebhookRow> {
  const [r] = await manager.query(
    `INSERT INTO webhooks (id, org_id, url, events, description, encrypted_secret) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [row.id, row.orgId, row.url, row.events, row.description, row.encryptedSecret],
  );
  return webhookOf(r);
}

export function webhooksOfOrg(manager: EntityManager, orgId: string, page: { offset: number; limit: number }): Promise<{ rows: WebhookRow[]; total: number }> {
  return pageOf(manager, `webhooks WHERE org_id = $1`, [orgId], 'created_at, id', page, webhookOf);
}

/** The org's webhook of this id (null: none, or another org's); `lock` holds it until the transaction ends. */
export async function webhookInOrg(manager: EntityManager, id: string, orgId: string, lock = false): Promise<WebhookRow | null> {
  const [r] = await manager.query(`SELECT * FROM webhooks WHERE id = $1 AND org_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, orgId]);
  return r ? webhookOf(r) : null;
}

export type WebhookChanges = Partial<Pick<WebhookRow, 'url' | 'events' | 'description' | 'enabled'>>;

const CHANGE_COLUMNS: Record<keyof WebhookChanges, string> = { url: 'url', events: 'events', description: 'description', enabled: 'enabled' };

/** Apply `changes` (every field given) to the org's webhook; null when there is none. */
export async function updateWebhook(manager: EntityManager, id: string, orgId: string, changes: WebhookChanges): Promise<WebhookRow | null> {
  const entries = (Object.keys(CHANGE_COLUMNS) as (keyof WebhookChanges)[]).filter((key) => changes[key] !== undefined);
  const sets = entries.map((key, i) => `${CHANGE_COLUMNS[key]} = $${i + 3}`);
  const [rows] = await manager.query(
    `UPDATE webhooks SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 AND org_id = $2 RETURNING *`,
    [id, orgId, ...entries.map((key) => changes[key])],
  );
  return rows[0] ? webhookOf(rows[0]) : null;
}

/** Delete the org's webhook (its deliveries go with it); false when there was none. */
export async function deleteWebhook(manager: EntityManager, id: string, orgId: string): Promise<boolean> {
  const [, affected] = await manager.query(`DELETE FROM webhooks WHERE id = $1 AND org_id = $2`, [id, orgId]);
  return affected > 0;
}

/** The enabled webhooks of these orgs (what the dispatcher fans events out to). */
export async function enabledWebhooksOf(manager: EntityManager, orgIds: string[]): Promise<Pick<WebhookRow, 'id' | 'orgId' | 'events'>[]> {
  if (!orgIds.length) return [];
  const rows: Raw[] = await manager.query(`SELECT id, org_id, events FROM webhooks WHERE enabled AND org_id = ANY($1::uuid[])`, [orgIds]);
  return rows.map((r) => ({ id: r.id, orgId: r.org_id, events: r.events }));
}

// ---- deliveries ----

/** Insert deliveries; those whose (webhook, source) exists already are skipped. Returns the ids inserted. */
export async function insertWebhookDeliveries(manager: EntityManager, deliveries: NewWebhookDelivery[]): Promise<string[]> {
  if (!deliveries.length) return [];
  const rows: Raw[] = await manager.query(
    `INSERT INTO webhook_deliveries (id, webhook_id, event, payload, source_key, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
     ON CONFLICT (webhook_id, source_key) DO NOTHING RETURNING id`,
    [
      deliveries.map((d) => d.id), deliveries.map((d) => d.webhookId), deliveries.map((d) => d.event),
      deliveries.map((d) => JSON.stringify(d.payload)), deliveries.map((d) => d.sourceKey), deliveries.map((d) => d.createdAt),
    ],
  );
  return rows.map((r) => r.id);
}

export function webhookDeliveriesPage(
  manager: EntityManager, webhookId: string, status: WebhookDeliveryStatus | undefined, page: { offset: number; limit: number },
): Promise<{ rows: WebhookDeliveryRow[]; total: number }> {
  return pageOf(
    manager, `webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2::text)`, [webhookId, status ?? null],
    'created_at DESC, id', page, deliveryOf,
  );
}

export async function webhookDeliveryById(manager: EntityManager, id: string): Promise<WebhookDeliveryRow | null> {
  const [r] = await manager.query(`SELECT * FROM webhook_deliveries WHERE id = $1`, [id]);
  return r ? deliveryOf(r) : null;
}

/** A delivery with its endpoint; null when either is gone (the webhook was deleted). */
export async function deliveryToSend(manager: EntityManager, id: string): Promise<DeliveryToSend | null> {
  const [r] = await manager.query(
    `SELECT d.*, w.org_id, w.url, w.encrypted_secret, w.enabled FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1`,
    [id],
  );
  return r ? { ...deliveryOf(r), orgId: r.org_id, url: r.url, encryptedSecret: r.encrypted_secret, enabled: r.enabled } : null;
}

/**
 * Record one attempt of a pending delivery: its status code (null: no answer) and error, and its new
 * status (`pending` while retries remain). False when it was no longer pending.
 */
export async function recordDeliveryAttempt(
  manager: EntityManager, id: string, attempt: { status: WebhookDeliveryStatus; statusCode: number | null; error: string | null; at: Date },
): Promise<boolean> {
  const [, affected] = await manager.query(
    `UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, last_status_code = $3, last_error = $4,
       delivered_at = CASE WHEN $2 = 'delivered' THEN $5::timestamptz ELSE delivered_at END
     WHERE id = $1 AND status = 'pending'`,
    [id, attempt.status, attempt.statusCode, attempt.error, attempt.at],
  );
  return affected > 0;
}

/** Pending deliveries never attempted and older than `before`: enqueued again (a no-op for those whose job exists). */
export async function untriedWebhookDeliveries(manager: EntityManager, before: Date, limit: number): Promise<string[]> {
  const rows: Raw[] = await manager.query(
    `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND attempts = 0 AND created_at < $1 ORDER BY created_at LIMIT $2`, [before, limit],
  );
  return rows.map((r) => r.id);
}

/** Delete up to `limit` delivered or failed deliveries created before `before`; returns how many went. */
export async function purgeSettledWebhookDeliveries(manager: EntityManager, before: Date, limit: number): Promise<number> {
  const [, affected] = await manager.query(
    `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT $2)`, [before, limit],
  );
  return affected;
}

// ---- the dispatcher's cursor over the audit log ----

/** The audit events the dispatcher reads. */
export interface DispatchableAuditEvent {
  seq: number;
  at: Date;
  orgId: string | null;
  eventType: string;
  outcome: string;
  resourceId: string | null;
  details: Record<string, unknown>;
  error: { code: string; message: string } | null;
}

/**
 * Lock the cursor for this transaction and return it; null when another dispatcher holds it (that one
 * is dispatching: this one has nothing to do now).
 */
export async function lockWebhookCursor(manager: EntityManager): Promise<number | null> {
  const [r] = await manager.query(`SELECT last_seq FROM webhook_cursor FOR UPDATE SKIP LOCKED`);
  return r ? Number(r.last_seq) : null;
}

export async function advanceWebhookCursor(manager: EntityManager, seq: number): Promise<void> {
  await manager.query(`UPDATE webhook_cursor SET last_seq = $1, updated_at = now() WHERE last_seq < $1`, [seq]);
}

/** Up to `limit` audit events after `seq`, in seq order (committed ones only: a gap may still fill). */
export async function auditEventsAfter(manager: EntityManager, seq: number, limit: number): Promise<DispatchableAuditEvent[]> {
  const rows: Raw[] = await manager.query(
    `SELECT seq, at, org_id, event_type, outcome, resource_id, details, error FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [seq, limit],
  );
  return rows.map((r) => ({
    seq: Number(r.seq), at: r.at, orgId: r.org_id, eventType: r.event_type, outcome: r.outcome, resourceId: r.resource_id, details: r.details, error: r.error,
  }));
}

/** The database's current snapshot (pg_snapshot text): which transactions are still open now. */
export async function currentSnapshot(manager: EntityManager): Promise<string> {
  return (await manager.query(`SELECT pg_current_snapshot()::text AS s`))[0].s;
}

/** Whether every transaction that was open in `snapshot` has ended (committed or rolled back). */
export async function snapshotSettled(manager: EntityManager, snapshot: string): Promise<boolean> {
  const [r] = await manager.query(
    `SELECT NOT EXISTS (SELECT 1 FROM pg_snapshot_xip($1::pg_snapshot) AS x WHERE pg_xact_status(x) = 'in progress') AS settled`, [snapshot],
  );
  return r.settled;
}

export function approvalsByIds(manager: EntityManager, ids: string[]): Promise<ApprovalEntity[]> {
  return ids.length ? manager.getRepository(ApprovalEntity).findBy({ id: In(ids) }) : Promise.resolve([]);
}

// ---- expiry notices ----

/** Days before validTo at which `certificate.expiring` is sent (0: `certificate.expired`). */
export const EXPIRY_THRESHOLDS = [30, 14, 7, 1] as const;

export interface ExpiryNotice {
  certificateId: string;
  orgId: string;
  daysBefore: number;
}

/**
 * Record up to `limit` expiry notices now due, and return those this call inserted (only they are
 * sent). A certificate is due for the tightest threshold it is inside (its days left rounded up to
 * 30, 14, 7 or 1; 0 once expired, for a week after) while it is active, not superseded, and its org has
 * an enabled webhook for certificate.expiring or certificate.expired. Each (certificate, threshold)
 * is inserted once, by whichever sweep gets there first.
 */
export async function insertDueExpiryNotices(manager: EntityManager, now: Date, limit: number): Promise<ExpiryNotice[]> {
  const rows: Raw[] = await manager.query(
    `WITH due AS (
       SELECT c.id, c.org_id,
              CASE WHEN c.valid_to <= $1::timestamptz THEN 0
                   WHEN c.valid_to <= $1::timestamptz + interval '1 day' THEN 1
                   WHEN c.valid_to <= $1::timestamptz + interval '7 days' THEN 7
                   WHEN c.valid_to <= $1::timestamptz + interval '14 days' THEN 14
                   ELSE 30 END AS days_before
         FROM certificates c
        WHERE c.org_id IN (SELECT org_id FROM webhooks WHERE enabled AND events && ARRAY['certificate.expiring', 'certificate.expired'])
          AND c.status = 'active' AND c.superseded_by_id IS NULL
          AND c.valid_to <= $1::timestamptz + interval '30 days' AND c.valid_to > $1::timestamptz - interval '7 days'
     ), inserted AS (
       INSERT INTO certificate_expiry_notices (certificate_id, days_before, created_at)
       SELECT id, days_before, $1::timestamptz FROM due d
        WHERE NOT EXISTS (SELECT 1 FROM certificate_expiry_notices n WHERE n.certificate_id = d.id AND n.days_before = d.days_before)
        LIMIT $2
       ON CONFLICT DO NOTHING
       RETURNING certificate_id, days_before
     )
     SELECT i.certificate_id, i.days_before, d.org_id FROM inserted i JOIN due d ON d.id = i.certificate_id`,
    [now, limit],
  );
  return rows.map((r) => ({ certificateId: r.certificate_id, orgId: r.org_id, daysBefore: r.days_before }));
}

/** Take the named lock for this transaction if it is free; false when another session holds it. */
export async function tryTransactionLock(manager: EntityManager, name: string): Promise<boolean> {
  return (await manager.query(`SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS got`, [name]))[0].got;
}
