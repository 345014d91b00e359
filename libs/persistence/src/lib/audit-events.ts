/**
 * Writing and reading audit events: the one insert path every service uses, so the secret scrub below
 * cannot be bypassed, and the cursor pages of the audit API. Events are only ever inserted (the table's
 * trigger refuses UPDATE and DELETE); old ones leave only through purgeAuditEvents, the retention path
 * the trigger honours.
 */
import type { EntityManager } from 'typeorm';
import { AuditActorType, AuditEventEntity, AuditOutcome } from './entities/audit-event.entity';

export interface AuditEventInput {
  orgId: string | null;
  eventType: string;
  outcome: AuditOutcome;
  actorType: AuditActorType;
  actorId: string | null;
  actorName: string | null;
  ip?: string | null;
  resourceType?: string | null;
  resourceId?: string | null;
  details?: Record<string, unknown>;
  error?: { code: string; message: string } | null;
  durationMs?: number | null;
  at?: Date;
}

/** Field names whose values never enter the audit log, at any depth. */
const SECRET_FIELDS = new Set(
  ['privatekey', 'privatekeypem', 'passphrase', 'capassphrase', 'password', 'secret', 'token', 'key', 'adminkey', 'master_key', 'masterkey', 'authorization'],
);

export function scrubSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrubSecrets);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) {
      out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? '[redacted]' : scrubSecrets(inner);
    }
    return out;
  }
  return value;
}

const COLUMNS = [
  'at', 'org_id', 'event_type', 'outcome', 'actor_type', 'actor_id', 'actor_name', 'ip',
  'resource_type', 'resource_id', 'details', 'error', 'duration_ms',
] as const;

/** Insert events in one statement (inside `manager`'s transaction when it has one). */
export async function insertAuditEvents(manager: EntityManager, events: AuditEventInput[]): Promise<void> {
  if (!events.length) return;
  const params: unknown[] = [];
  const rows = events.map((e) => {
    const values = [
      e.at ?? new Date(), e.orgId, e.eventType, e.outcome, e.actorType, e.actorId, e.actorName, e.ip ?? null,
      e.resourceType ?? null, e.resourceId ?? null, JSON.stringify(scrubSecrets(e.details ?? {})),
      e.error ? JSON.stringify(e.error) : null, e.durationMs ?? null,
    ];
    const placeholders = values.map((v) => `$${params.push(v)}`);
    return `(${placeholders.join(', ')})`;
  });
  await manager.query(`INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`, params);
}

/**
 * Delete up to `maxRows` events older than `retentionDays` (oldest first) through the database's one
 * sanctioned path (purge_audit_events, migration 1764700000000), which also records an `audit.purge`
 * event. Returns how many went; call again while it returns `maxRows`.
 */
export async function purgeAuditEvents(manager: EntityManager, retentionDays: number, maxRows: number): Promise<number> {
  const [{ deleted }] = await manager.query(`SELECT purge_audit_events($1, $2) AS deleted`, [retentionDays, maxRows]);
  return Number(deleted);
}

/** Which events a page lists; every field given narrows it. */
export interface AuditEventFilter {
  /** One org's events; absent: every org's (and the platform's). */
  orgId?: string;
  eventType?: string;
  /** Event types starting with this (`certificate.`): a prefix match on the text_pattern_ops index. */
  eventTypePrefix?: string;
  outcome?: AuditOutcome;
  resourceId?: string;
  /** Only events of the last this many days. */
  days?: number;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Up to `limit` events newest first (by seq), those before `cursor` when given, and the cursor of the
 * next page (null on the last). One query.
 */
export async function auditEventsPage(
  manager: EntityManager,
  filter: AuditEventFilter,
  page: { limit: number; cursor?: string },
): Promise<{ events: AuditEventEntity[]; nextCursor: string | null }> {
  const query = manager.getRepository(AuditEventEntity).createQueryBuilder('e');
  if (filter.orgId) query.andWhere('e.org_id = :orgId', { orgId: filter.orgId });
  if (filter.eventTypePrefix) query.andWhere('e.event_type LIKE :prefix', { prefix: `${escapeLike(filter.eventTypePrefix)}%` });
  if (filter.eventType) query.andWhere('e.event_type = :eventType', { eventType: filter.eventType });
  if (filter.outcome) query.andWhere('e.outcome = :outcome', { outcome: filter.outcome });
  if (filter.resourceId) query.andWhere('e.resource_id = :resourceId', { resourceId: filter.resourceId });
  if (filter.days) query.andWhere(`e.at >= now() - make_interval(days => :days)`, { days: filter.days });
  if (page.cursor) query.andWhere('e.seq < :cursor', { cursor: page.cursor });
  const rows = await query.orderBy('e.seq', 'DESC').limit(page.limit + 1).getMany();
  const events = rows.slice(0, page.limit);
  return { events, nextCursor: rows.length > page.limit ? String(events[events.length - 1].seq) : null };
}
