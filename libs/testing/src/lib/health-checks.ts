/**
 * The ops contract every Signet process keeps on its HTTP port (API.md: /healthz, /readyz, /metrics),
 * as one set of expectations shared by the three services' tests.
 */
export async function expectOpsEndpoints(baseUrl: string): Promise<void> {
  const health = await fetch(`${baseUrl}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });

  const ready = await fetch(`${baseUrl}/readyz`);
  expect(ready.status).toBe(200);
  const readiness = (await ready.json()) as { checks: Record<string, { status: string }> };
  expect(readiness.checks.postgres.status).toBe('up');
  expect(readiness.checks.redis.status).toBe('up');

  const metrics = await fetch(`${baseUrl}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
  expect(await metrics.text()).toContain('signet_process_cpu_seconds_total');

  expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
}
