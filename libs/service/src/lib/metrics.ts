/**
 * Prometheus metrics: one registry per process with Node's default metrics, prefixed `signet_`,
 * plus an HTTP request histogram any HTTP app can feed.
 */
import { Counter, Histogram, LabelValues, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
let defaultsCollected = false;

export function initMetrics(app: string): Registry {
  if (!defaultsCollected) {
    metricsRegistry.setDefaultLabels({ app });
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'signet_' });
    defaultsCollected = true;
  }
  return metricsRegistry;
}

export const httpRequestDuration = new Histogram({
  name: 'signet_http_request_duration_seconds',
  help: 'HTTP request duration by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const httpRequestsTotal = new Counter({
  name: 'signet_http_requests_total',
  help: 'HTTP requests by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

/**
 * Export every combination of `values` (label -> its known values) at 0 now. A series that appears only
 * at its first increment hides that increment from rate() and increase() (there is no earlier sample to
 * compare with, after every restart too), and ratios and alerts over it stay undefined until then. Only
 * for bounded label sets: outcomes, job names, classes; never ids.
 */
export function startAtZero<T extends string>(metric: Counter<T> | Histogram<T>, values: Record<T, readonly string[]>): void {
  let combinations: LabelValues<T>[] = [{}];
  for (const [label, known] of Object.entries(values) as [T, readonly string[]][]) {
    combinations = combinations.flatMap((partial) => known.map((value) => ({ ...partial, [label]: value })));
  }
  for (const labels of combinations) {
    if (metric instanceof Histogram) metric.zero(labels);
    else metric.inc(labels, 0);
  }
}
