/** What people open every morning: totals, what expires when, failed renewals, requests waiting for approval. */
import { Approval, AuditEvent, Page, api } from '../api';
import { useSession } from '../app';
import { Link } from '../router';
import { ErrorNotice, Loading, PageHeader, formatDate, formatDateTime, useLoad } from '../ui';

interface Stats {
  total: number;
  active: number;
  expired: number;
  revoked: number;
  expiring7Days: number;
  expiring30Days: number;
  autoRenewEnabled: number;
}

/** Week buckets over the next 90 days: each bar counts active certificates whose validTo falls in it. */
const BUCKET_ENDS = [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 90];

export interface ExpiryBucket {
  fromDay: number;
  toDay: number;
  count: number;
}

/**
 * Exact counts at any inventory size: the list's `total` for "expiring within N days" is cumulative, so
 * each bucket is the difference of two totals (one row fetched per call, never the certificates).
 */
async function loadExpiries(): Promise<ExpiryBucket[]> {
  const totals = await Promise.all(
    BUCKET_ENDS.map((days) => api<Page>('/certificates', { query: { expiringInDays: days, pageSize: 1 } }).then((p) => p.total)),
  );
  return BUCKET_ENDS.map((toDay, i) => ({ fromDay: i === 0 ? 0 : BUCKET_ENDS[i - 1], toDay, count: totals[i] - (i === 0 ? 0 : totals[i - 1]) }));
}

export function ExpiryChart({ buckets }: { buckets: ExpiryBucket[] }) {
  const width = 640;
  const height = 220;
  const left = 36;
  const bottom = 34;
  const top = 12;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const step = Math.max(1, Math.ceil(max / 4));
  const ticks = Array.from({ length: Math.floor(max / step) + 1 }, (_, i) => i * step);
  const scaleMax = Math.max(max, ticks[ticks.length - 1]);
  const plotHeight = height - top - bottom;
  const barSlot = (width - left - 8) / buckets.length;
  const y = (value: number) => top + plotHeight - (value / scaleMax) * plotHeight;
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="expiry-chart-title expiry-chart-desc" className="expiry-chart">
        <title id="expiry-chart-title">Certificates expiring in the next 90 days, by week</title>
        <desc id="expiry-chart-desc">
          {total} certificates in all. {buckets.map((b) => `Days ${b.fromDay}–${b.toDay}: ${b.count}`).join('. ')}.
        </desc>
        {ticks.map((tick) => (
          <g key={tick}>
            <line x1={left} x2={width - 4} y1={y(tick)} y2={y(tick)} className="grid-line" />
            <text x={left - 6} y={y(tick) + 4} textAnchor="end" className="axis-label">{tick}</text>
          </g>
        ))}
        {buckets.map((b, i) => {
          const x = left + i * barSlot + barSlot * 0.15;
          const barHeight = (b.count / scaleMax) * plotHeight;
          return (
            <g key={b.toDay}>
              <rect x={x} y={y(b.count)} width={barSlot * 0.7} height={Math.max(barHeight, b.count ? 1 : 0)} className={b.toDay <= 14 ? 'bar bar-soon' : 'bar'} />
              {b.count > 0 && <text x={x + barSlot * 0.35} y={y(b.count) - 4} textAnchor="middle" className="bar-label">{b.count}</text>}
              <text x={x + barSlot * 0.35} y={height - bottom + 16} textAnchor="middle" className="axis-label">{b.toDay}d</text>
            </g>
          );
        })}
        <text x={width - 4} y={height - 2} textAnchor="end" className="axis-label">days from today</text>
      </svg>
      <figcaption className="muted small">Active certificates by the week their validity ends. Red: within 14 days.</figcaption>
    </figure>
  );
}

function Tile({ label, value, to }: { label: string; value: number; to?: string }) {
  const body = (
    <>
      <span className="tile-value">{value}</span>
      <span className="tile-label">{label}</span>
    </>
  );
  return <li className="tile">{to ? <Link to={to}>{body}</Link> : body}</li>;
}

export function DashboardPage() {
  const session = useSession();
  const stats = useLoad(() => api<Stats>('/certificates/stats'), []);
  const expiries = useLoad(loadExpiries, []);
  const approvals = useLoad(() => api<Page & { approvals: Approval[] }>('/approvals', { query: { status: 'pending', pageSize: 5 } }), []);
  const failedRenewals = useLoad(
    () => (session.isAdmin ? api<{ events: AuditEvent[] }>('/audit', { query: { eventType: 'certificate.renew', outcome: 'failed', days: 30, limit: 10 } }) : Promise.resolve(null)),
    [session.isAdmin],
  );
  const s = stats.data;
  return (
    <>
      <PageHeader title="Dashboard">
        <Link to="/issue" className="button">Issue a certificate</Link>
      </PageHeader>
      <section aria-labelledby="totals-title">
        <h2 id="totals-title">Certificates</h2>
        <ErrorNotice error={stats.error} />
        {s ? (
          <ul className="tiles">
            <Tile label="total" value={s.total} to="/certificates" />
            <Tile label="active" value={s.active} to="/certificates?status=active" />
            <Tile label="expiring in 7 days" value={s.expiring7Days} to="/certificates?status=expiring&expiringInDays=7" />
            <Tile label="expiring in 30 days" value={s.expiring30Days} to="/certificates?status=expiring&expiringInDays=30" />
            <Tile label="expired" value={s.expired} to="/certificates?status=expired" />
            <Tile label="revoked" value={s.revoked} to="/certificates?status=revoked" />
            <Tile label="auto-renewing" value={s.autoRenewEnabled} />
          </ul>
        ) : !stats.error && <Loading what="totals" />}
      </section>
      <section aria-labelledby="expiry-title">
        <h2 id="expiry-title">Expiring in the next 90 days</h2>
        <ErrorNotice error={expiries.error} />
        {expiries.data ? <ExpiryChart buckets={expiries.data} /> : !expiries.error && <Loading what="expiries" />}
      </section>
      <div className="columns">
        <section aria-labelledby="approvals-title">
          <h2 id="approvals-title">Waiting for approval</h2>
          <ErrorNotice error={approvals.error} />
          {approvals.data && (approvals.data.approvals.length === 0 ? (
            <p className="muted">Nothing waits for approval.</p>
          ) : (
            <>
              <ul className="plain-list">
                {approvals.data.approvals.map((a) => (
                  <li key={a.id}>
                    <strong>{a.request.commonName}</strong> <span className="muted">by {a.requestedBy.name ?? a.requestedBy.type}, expires {formatDate(a.expiresAt)}</span>
                  </li>
                ))}
              </ul>
              <p><Link to="/approvals">{approvals.data.total} pending: open the approvals queue</Link></p>
            </>
          ))}
        </section>
        <section aria-labelledby="failed-title">
          <h2 id="failed-title">Failed renewals (30 days)</h2>
          {!session.isAdmin && <p className="muted">The audit log, where failed renewals are recorded, is for org admin keys.</p>}
          <ErrorNotice error={failedRenewals.error} />
          {failedRenewals.data && (failedRenewals.data.events.length === 0 ? (
            <p className="muted">No renewal failed.</p>
          ) : (
            <ul className="plain-list">
              {failedRenewals.data.events.map((e) => (
                <li key={e.id}>
                  {e.resourceId ? <Link to={`/certificates/${e.resourceId}`}>{String(e.details?.commonName ?? e.resourceId)}</Link> : 'a certificate'}{' '}
                  <span className="muted">{formatDateTime(e.at)}: {e.error?.message ?? 'failed'}</span>
                </li>
              ))}
            </ul>
          ))}
        </section>
      </div>
    </>
  );
}
