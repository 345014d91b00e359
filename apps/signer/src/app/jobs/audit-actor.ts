import type { AuditEventInput } from '@signet/persistence';
import type { JobActor } from '@signet/queue';

/** The audit event's actor columns, from the job's actor (who asked the producer). */
export const auditActor = (actor: JobActor): Pick<AuditEventInput, 'actorType' | 'actorId' | 'actorName' | 'ip'> => ({
  actorType: actor.type, actorId: actor.id, actorName: actor.name, ip: actor.ip,
});
