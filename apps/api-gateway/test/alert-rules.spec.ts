/**
 * The Prometheus alert rules in deploy/observability (issue 19): valid for promtool, and each alert fires
 * (and stays quiet) as alerts.test.yml says on synthetic series. promtool comes from Debian's
 * `prometheus` package (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const OBSERVABILITY = join(__dirname, '../../../deploy/observability');
const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { cwd: OBSERVABILITY, encoding: 'utf8', timeout: 60000 });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): apt-get install prometheus`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

describe('alert rules (promtool)', () => {
  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it('pass their unit tests on synthetic series, and every alert has one', () => {
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
    const alerts = [...readFileSync(join(OBSERVABILITY, 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tested = readFileSync(join(OBSERVABILITY, 'alerts.test.yml'), 'utf8');
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    expect(alerts.filter((a) => !tested.includes(`alertname: ${a}`))).toEqual([]);
  });

  it('the dashboard is Grafana JSON whose panels all query Prometheus', () => {
    const dashboard = JSON.parse(readFileSync(join(OBSERVABILITY, 'signet-dashboard.json'), 'utf8'));
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of dashboard.panels) expect(panel.targets.every((t: { expr: string }) => /signet_/.test(t.expr))).toBe(true);
  });
});
