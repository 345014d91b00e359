/**
 * The Prometheus alert rules in deploy/observability (issue 19): valid for promtool, and each alert fires
 * (and stays quiet) as alerts.test.yml says on synthetic series labelled as Prometheus stores them; the
 * sample prometheus.yml is valid; the dashboard's signer job panels are the expressions tested there.
 * promtool comes from Debian's `prometheus` package (.ci/run installs it).
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

  it('the sample prometheus.yml passes promtool check config (its rule file included)', () => {
    const r = promtool('check', 'config', 'prometheus.yml');
    expect(r.out).toMatch(/SUCCESS: 1 rule files found/);
    expect(r.status).toBe(0);
  });

  const dashboardExprs = (): { title: string; expr: string }[] => {
    const dashboard = JSON.parse(readFileSync(join(OBSERVABILITY, 'signet-dashboard.json'), 'utf8'));
    return dashboard.panels.flatMap((panel: { title: string; targets: { expr: string }[] }) => panel.targets.map((t) => ({ title: panel.title, expr: t.expr })));
  };

  it('the dashboard is Grafana JSON whose panels all query Prometheus', () => {
    const dashboard = JSON.parse(readFileSync(join(OBSERVABILITY, 'signet-dashboard.json'), 'utf8'));
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of dashboard.panels) expect(panel.targets.every((t: { expr: string }) => /signet_/.test(t.expr))).toBe(true);
  });

  it('no query groups by the scrape target labels job or instance (the signer job is exported_job)', () => {
    const alerts = [...readFileSync(join(OBSERVABILITY, 'alerts.yml'), 'utf8').matchAll(/expr: \|?\s*([\s\S]*?)\n\s+(?:for|labels):/g)].map((m) => ({ title: 'alerts.yml', expr: m[1] }));
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const byTargetLabel = [...dashboardExprs(), ...alerts].filter(({ expr }) => /\bby\s*\([^)]*\b(job|instance)\b/.test(expr));
    expect(byTargetLabel).toEqual([]);
  });

  it('the signer job panels (jobs by outcome, failure ratio) are the expressions alerts.test.yml checks', () => {
    const tested = readFileSync(join(OBSERVABILITY, 'alerts.test.yml'), 'utf8');
    const panels = dashboardExprs().filter(({ title }) => title === 'Signer jobs by outcome' || title === 'Signer job failure ratio');
    expect(panels).toHaveLength(2);
    for (const { expr } of panels) expect(tested).toContain(`- expr: ${expr}\n`);
  });
});
