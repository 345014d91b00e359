/**
 * A real Prometheus (Debian's `prometheus` binary) running deploy/observability/prometheus.yml, the
 * configuration operators copy: its three scrape jobs pointed at services on loopback, its intervals
 * shortened, alerts.yml evaluated. The dashboard's queries and the alert rules are then judged on series
 * as that configuration stores them (the signer's `job` label as `exported_job`, `job` and `instance`
 * added), not on a scrape parsed by hand.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './service-process';

export const OBSERVABILITY_DIR = join(__dirname, '../../../../deploy/observability');

/** host:port of each scrape job of prometheus.yml. */
export interface PrometheusTargets {
  'signet-gateway': string;
  'signet-signer': string;
  'signet-enroll': string;
}

export interface PrometheusSample {
  labels: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  url: string;
  /** A call to Prometheus's HTTP API (`/api/v1/...`): its `data`, or an error with Prometheus's words. */
  api(path: string, params?: Record<string, string>): Promise<any>;
  /** An instant query's samples (at `time`, unix seconds, or now). */
  query(expr: string, time?: number): Promise<PrometheusSample[]>;
  /** Whether every target has been scraped and is up. */
  targetsUp(): Promise<boolean>;
  /** What Prometheus logged. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  targets: PrometheusTargets;
  /** Where its configuration, data and log go. */
  dir: string;
  /** Scrape and rule evaluation interval. */
  intervalSeconds: number;
  /** The binary (default `prometheus` on PATH). */
  binary?: string;
}

/** prometheus.yml with the targets, intervals and rule file path of this run; each replaced text must be there. */
export function prometheusConfig(options: Pick<PrometheusOptions, 'targets' | 'intervalSeconds'>): string {
  const interval = `${options.intervalSeconds}s`;
  const replacements: [string, string][] = [
    ['scrape_interval: 30s', `scrape_interval: ${interval}`],
    ['scrape_timeout: 10s', `scrape_timeout: ${interval}`],
    ['evaluation_interval: 30s', `evaluation_interval: ${interval}`],
    ['  - alerts.yml', `  - ${join(OBSERVABILITY_DIR, 'alerts.yml')}`],
    ["'signet-gateway:3000'", `'${options.targets['signet-gateway']}'`],
    ["'signet-signer:8082'", `'${options.targets['signet-signer']}'`],
    ["'signet-enroll:8081'", `'${options.targets['signet-enroll']}'`],
  ];
  let config = readFileSync(join(OBSERVABILITY_DIR, 'prometheus.yml'), 'utf8');
  for (const [from, to] of replacements) {
    if (!config.includes(from)) throw new Error(`deploy/observability/prometheus.yml no longer contains ${from}: update libs/testing/src/lib/prometheus.ts`);
    config = config.replace(from, to);
  }
  return config;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  mkdirSync(options.dir, { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(options));
  const logFile = join(options.dir, 'prometheus.log');
  writeFileSync(logFile, '');
  const log = openSync(logFile, 'a');
  const port = await freePort();
  const child: ChildProcess = spawn(options.binary ?? 'prometheus', [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', log, log] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned: { error?: Error } = {};
  child.once('error', (error) => (spawned.error = error));
  const url = `http://127.0.0.1:${port}`;
  const output = () => readFileSync(logFile, 'utf8');

  const api = async (path: string, params: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: any; errorType?: string; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${params.query ?? ''}: ${body.errorType} ${body.error}`);
    return body.data;
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (spawned.error) throw new Error(`${options.binary ?? 'prometheus'} could not start (${spawned.error.message}): apt-get install prometheus`);
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${output().slice(-2000)}`);
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not get ready: ${output().slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url, api, output, stop,
    async query(expr: string, time?: number) {
      const data = await api('/api/v1/query', { query: expr, ...(time === undefined ? {} : { time: String(time) }) });
      if (data.resultType === 'scalar') return [{ labels: {}, value: Number(data.result[1]) }];
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    async targetsUp() {
      const data = await api('/api/v1/targets', { state: 'active' });
      const targets = data.activeTargets as { health: string }[];
      return targets.length === 3 && targets.every((t) => t.health === 'up');
    },
  };
}
