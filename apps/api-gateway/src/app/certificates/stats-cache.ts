/**
 * Bounded staleness for GET /certificates/stats on big inventories (docs/BENCHMARKS.md, "Inventory at
 * 5 million certificates"). The counts are one pass over the certificates in scope: cheap for thousands,
 * seconds for millions; exact on every call for an inventory below EXACT_BELOW. Above it, a call is
 * answered from this process's last count of the same scope while that is at most MAX_AGE_MS old; up to
 * twice that it is still answered from it while one recount runs in the background; older than that, or
 * never counted, the call counts. So a count is never more than 2 x MAX_AGE_MS old, `asOf` says how old,
 * and a big inventory costs one pass per scope per MAX_AGE_MS, whatever the number of calls.
 *
 * Chosen over counters maintained by triggers on `certificates`: those need the time-dependent counters
 * (active, expired, expiring in 7 and 30 days) bucketed by expiry day with the boundary days recounted, and
 * every issuance would write a second row; a stale-by-seconds dashboard number is what Vault and EJBCA
 * users get from their metrics too.
 */
import { Logger } from '@nestjs/common';

export const EXACT_BELOW = 100_000;
export const MAX_AGE_MS = 30_000;
/** Scopes kept (an org's admin scope, and one per distinct member key's set of readable CAs). */
const MAX_SCOPES = 1000;

interface Entry<T> {
  value: T;
  asOf: Date;
  refreshing: Promise<void> | null;
}

export class StatsCache<T extends { total: number }> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly logger = new Logger('CertificateStats');

  constructor(
    private readonly maxAgeMs = MAX_AGE_MS,
    private readonly exactBelow = EXACT_BELOW,
  ) {}

  /** The counts of `scope` (any string naming it) and the time they are of. */
  async get(scope: string, count: () => Promise<T>): Promise<{ value: T; asOf: Date }> {
    const entry = this.entries.get(scope);
    const age = entry ? Date.now() - entry.asOf.getTime() : Infinity;
    if (!entry || entry.value.total < this.exactBelow || age > 2 * this.maxAgeMs) return this.countNow(scope, count);
    if (age > this.maxAgeMs && !entry.refreshing) {
      entry.refreshing = this.countNow(scope, count).then(
        () => undefined,
        (error: unknown) => {
          entry.refreshing = null;
          this.logger.warn({ err: error }, 'background recount of certificate stats failed; the last count stays until it is too old');
        },
      );
    }
    return { value: entry.value, asOf: entry.asOf };
  }

  private async countNow(scope: string, count: () => Promise<T>): Promise<{ value: T; asOf: Date }> {
    const asOf = new Date();
    const value = await count();
    this.entries.delete(scope);
    if (value.total >= this.exactBelow) {
      this.entries.set(scope, { value, asOf, refreshing: null });
      if (this.entries.size > MAX_SCOPES) this.entries.delete(this.entries.keys().next().value as string);
    }
    return { value, asOf };
  }
}
