/**
 * Writing audit events: the one insert path every service uses, so the secret scrub below cannot be
 * bypassed. Events are only ever inserted (the table's trigger refuses UPDATE and DELETE); old ones
 * leave only through purgeAuditEvents, the retention path the trigger honours.
 */
import type { EntityManager } from 'typeorm';
import type { AuditActorType, AuditOutcome } from './entities/audit-event.entity';

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
