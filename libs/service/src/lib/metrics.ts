/**
 * Prometheus metrics: one registry per process with Node's default metrics, prefixed `signet_`,
 * plus an HTTP request histogram any HTTP app can feed.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
