/**
 * Renewal state (API.md section 8): the sweep records each attempt on the certificate it renews; what a
 * client sees (`renewal`, `expiringSoon`) is derived from those columns, autoRenew and the clock, so
 * `scheduled` needs no writes and is never stale.
 */
import type { EntityManager } from 'typeorm';
import type { CertificateEntity } from './entities';

const DAY_MS = 86_400_000;
const MAX_ERROR_LENGTH = 1000;

export interface RenewalStateJson {
  status: 'none' | 'scheduled' | 'in_progress' | 'failed';
  lastAttemptAt: string | null;
  lastError: string | null;
  nextAttemptAt: string | null;
}

type RenewalFields = Pick<
  CertificateEntity,
  'autoRenew' | 'status' | 'supersededById' | 'validFrom' | 'validTo' | 'renewalThresholdDays' | 'renewalStatus' | 'renewalLastAttemptAt' | 'renewalLastError' | 'renewalNextAttemptAt'
>;

export function renewalStateOf(row: RenewalFields, now: number): RenewalStateJson {
  const live = row.status !== 'revoked' && !row.supersededById && row.validTo.getTime() > now;
  const last = { lastAttemptAt: row.renewalLastAttemptAt?.toISOString() ?? null, lastError: row.renewalLastError ?? null };
  if (live && row.renewalStatus === 'in_progress') return { status: 'in_progress', ...last, nextAttemptAt: null };
  if (live && row.autoRenew && row.renewalStatus === 'failed') return { status: 'failed', ...last, nextAttemptAt: row.renewalNextAttemptAt?.toISOString() ?? null };
  if (live && row.autoRenew) {
    // As certificatesDueForRenewal: the threshold, but at most half the lifetime before validTo.
    const lead = Math.min(row.renewalThresholdDays * DAY_MS, (row.validTo.getTime() - row.validFrom.getTime()) / 2);
    const due = row.validTo.getTime() - lead;
    return { status: 'scheduled', ...last, nextAttemptAt: new Date(Math.max(due, now)).toISOString() };
  }
  return { status: 'none', ...last, nextAttemptAt: null };
}

/** Within renewalThresholdDays of validTo, and still good. */
export function expiringSoon(row: Pick<CertificateEntity, 'status' | 'validTo' | 'renewalThresholdDays'>, now: number): boolean {
  const left = row.validTo.getTime() - now;
  return row.status !== 'revoked' && left > 0 && left <= row.renewalThresholdDays * DAY_MS;
}

/** The sweep takes the certificate: in_progress from now. */
export async function markRenewalAttempt(manager: EntityManager, id: string, at: Date): Promise<void> {
  await manager.query(`UPDATE certificates SET renewal_status = 'in_progress', renewal_last_attempt_at = $2 WHERE id = $1`, [id, at]);
}

/** The attempt's end: renewed (the certificate is superseded now), or failed with its error and the next try. */
export async function recordRenewalOutcome(manager: EntityManager, id: string, outcome: { renewed: true } | { error: string; nextAttemptAt: Date }): Promise<void> {
  if ('renewed' in outcome) {
    await manager.query(`UPDATE certificates SET renewal_status = 'none', renewal_last_error = NULL, renewal_next_attempt_at = NULL WHERE id = $1`, [id]);
  } else {
    await manager.query(`UPDATE certificates SET renewal_status = 'failed', renewal_last_error = $2, renewal_next_attempt_at = $3 WHERE id = $1`, [
      id, outcome.error.slice(0, MAX_ERROR_LENGTH), outcome.nextAttemptAt,
    ]);
  }
}
