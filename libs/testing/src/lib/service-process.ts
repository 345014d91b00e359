/**
 * Built services as real processes: how tests check start-up, health ports and SIGTERM handling the
 * way an orchestrator sees them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';

export type ServiceName = 'api-gateway' | 'signer' | 'enroll';

export function builtMainOf(service: ServiceName): string {
  const main = join(__dirname, '../../../../dist/apps', service, 'src/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
  return main;
}

export interface RunningService {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Start a built service with exactly `env` (plus PATH): no variable leaks in from the test runner. */
export function spawnService(service: ServiceName, env: Record<string, string>): RunningService {
  const child = spawn(process.execPath, [builtMainOf(service)], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/**
 * Poll `url` until it answers 200, or fail with what the process printed: at once if it exits. The wait
 * is for a start, not a measure of it: a gateway took 19 s to answer on the shared 2-core machine
 * under load, and 20 s failed suites that way.
 */
export function waitForHttp(url: string, service: RunningService, timeoutMs = 60000): Promise<void> {
  return pollUntilOk(url, service, timeoutMs, () => fetch(url).then((r) => r.ok, () => false));
}

/** Like waitForHttp, over HTTPS whoever signed the server's certificate (the listener is up; trust is the test's to check). */
export function waitForHttps(url: string, service: RunningService, timeoutMs = 20000): Promise<void> {
  const answers = () => new Promise<boolean>((resolve) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
  return pollUntilOk(url, service, timeoutMs, answers);
}

async function pollUntilOk(url: string, service: RunningService, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) throw new Error(`service exited early:\n${service.output()}`);
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${service.output()}`);
}

/** Send SIGTERM and wait for the exit code (SIGKILL after `graceMs`, so a hung test still ends). */
export async function stopService(service: RunningService, graceMs = 10000): Promise<number | null> {
  if (service.child.exitCode !== null) return service.child.exitCode;
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), graceMs);
  try {
    return await service.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A free TCP port on loopback, for a service under test. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The environment every service needs in tests: this run's database, Redis and queue prefix. */
export const testServiceEnv = (): Record<string, string> => ({
  DATABASE_URL: process.env.DATABASE_URL as string,
  REDIS_URL: process.env.REDIS_URL as string,
  QUEUE_PREFIX: process.env.QUEUE_PREFIX as string,
  LOG_LEVEL: 'warn',
});

/**
 * The built gateway as a process on free loopback ports (PUBLIC_BASE_URL the HTTP one), once /healthz
 * answers on both: `url` is its HTTP port, `httpsUrl` its HTTPS listener (HTTPS_PORT, unless `env` names
 * one; its certificate as `env`'s GATEWAY_TLS_* say: self-signed without them).
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<{ gateway: RunningService; url: string; httpsUrl: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const full = { ...testServiceEnv(), PORT: String(port), HTTPS_PORT: String(await freePort()), HOST: '127.0.0.1', PUBLIC_BASE_URL: url, ...env };
  const httpsUrl = `https://127.0.0.1:${full.HTTPS_PORT}`;
  const gateway = spawnService('api-gateway', full);
  await waitForHttp(`${url}/healthz`, gateway);
  // An issued certificate may wait for the signer: longer than the HTTP port.
  await waitForHttps(`${httpsUrl}/healthz`, gateway, 60000);
  return { gateway, url, httpsUrl };
}

/** The built signer, as in production (producers reach it only through the queue), with a MASTER_KEY of its own; answered once healthy. */
export async function startSigner(env: Record<string, string> = {}): Promise<RunningService> {
  const port = await freePort();
  const signer = spawnService('signer', { ...testServiceEnv(), MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(port), ...env });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
  return signer;
}
