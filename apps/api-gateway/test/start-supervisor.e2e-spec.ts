/**
 * `npm start` as a supervisor (issue 18, faults and supervision): scripts/start.js --no-build against the
 * built dist, on ports, a database and a queue prefix of this run, with an env file of its own
 * (SIGNET_ENV_FILE). A service killed from outside comes back while the others keep answering; a
 * service that dies at every start is a crash loop that stops everything with exit 1; SIGINT stops all
 * with exit 0.
 */
import { freePort } from '@signet/testing';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** `promise`'s value, or 'timed out' after `ms` (the timer cleared either way). */
const within = async <T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
};
const dir = mkdtempSync(join(tmpdir(), 'signet-start-'));

interface Stack {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  ports: { gateway: number; gatewayHttps: number; signer: number; enroll: number; enrollHealth: number };
}

const running: Stack[] = [];

async function startStack(name: string, env: Record<string, string> = {}): Promise<Stack> {
  // Every listener on a port of its own: the gateway's HTTPS default (3443) may be held by another Signet on this machine.
  const ports = { gateway: await freePort(), gatewayHttps: await freePort(), signer: await freePort(), enroll: await freePort(), enrollHealth: await freePort() };
  const child = spawn(process.execPath, ['scripts/start.js', '--no-build'], {
    cwd: ROOT,
    env: {
      ...process.env, // this run's DATABASE_URL, REDIS_URL and QUEUE_PREFIX (jest's global setup)
      SIGNET_ENV_FILE: join(dir, `${name}.env`),
      NO_COLOR: '1',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(ports.gateway),
      HTTPS_PORT: String(ports.gatewayHttps),
      PUBLIC_BASE_URL: `http://127.0.0.1:${ports.gateway}`,
      SIGNER_HEALTH_PORT: String(ports.signer),
      ENROLL_PORT: String(ports.enroll),
      ENROLL_HEALTH_PORT: String(ports.enrollHealth),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  // 'close': after the last output lines.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const stack = { child, output: () => output, exited, ports };
  running.push(stack);
  return stack;
}

/** The first match of `pattern` in the stack's output, waiting for it up to `timeoutMs`. */
async function waitForLine(stack: Stack, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = stack.output().match(pattern);
    if (match) return match;
    if (Date.now() > deadline || (stack.child.exitCode !== null && !stack.output().match(pattern))) {
      throw new Error(`no ${pattern} in the output of start.js:\n${stack.output()}`);
    }
    await sleep(100);
  }
}

const healthy = (port: number) => fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const pidOf = (stack: Stack, service: string) => Number(stack.output().match(new RegExp(`started ${service} \\(pid (\\d+)\\)`))![1]);

afterEach(async () => {
  for (const stack of running.splice(0)) {
    if (stack.child.exitCode === null && stack.child.signalCode === null) {
      stack.child.kill('SIGTERM');
      await within(stack.exited, 40_000);
    }
  }
});

describe('npm start supervises the services (scripts/start.js)', () => {
  it('restarts a killed service with backoff while the others keep answering; SIGINT then stops all with exit 0', async () => {
    const stack = await startStack('restart', { START_RESTART_DELAY_MS: '300' });
    await waitForLine(stack, /Signet is up/);
    const pids = { gateway: pidOf(stack, 'gateway'), signer: pidOf(stack, 'signer'), enroll: pidOf(stack, 'enroll') };

    // The others are asked throughout the outage and the restart.
    let polling = true;
    const misses: string[] = [];
    const poll = (async () => {
      while (polling) {
        if (!(await healthy(stack.ports.gateway))) misses.push('gateway');
        if (!(await healthy(stack.ports.signer))) misses.push('signer');
        await sleep(100);
      }
    })();

    process.kill(pids.enroll, 'SIGKILL');
    await waitForLine(stack, /enroll exited unexpectedly \(signal SIGKILL\); restarting it in 0\.3 s/);
    const back = await waitForLine(stack, /enroll is answering again \(pid (\d+)\)/);
    expect(Number(back[1])).not.toBe(pids.enroll);
    expect(alive(pids.enroll)).toBe(false);
    expect(await healthy(stack.ports.enrollHealth)).toBe(true);
    polling = false;
    await poll;
    expect(misses).toEqual([]);
    // Seen false once in CI under load with no missed health check: the supervisor's output says which died and why.
    if (!(alive(pids.gateway) && alive(pids.signer))) throw new Error(`gateway or signer was replaced during the enroll outage:\n${stack.output().slice(-6000)}`);

    stack.child.kill('SIGINT');
    expect(await within(stack.exited, 60_000)).toBe(0);
    expect(stack.output()).toMatch(/SIGINT: stopping gateway, signer and enroll/);
    for (const pid of [pids.gateway, pids.signer, Number(back[1])]) expect(alive(pid)).toBe(false);
  }, 180_000);

  it('gives up on a service that dies at every start: says so, stops the others and exits 1', async () => {
    // enroll refuses a malformed port at start, every time.
    const stack = await startStack('crash-loop', {
      ENROLL_HEALTH_PORT: 'not-a-port', START_RESTART_DELAY_MS: '100', START_RESTART_LIMIT: '2', START_RESTART_WINDOW_MS: '60000',
    });
    const code = await within(stack.exited, 120_000);
    const output = stack.output();
    expect({ code, output }).toEqual({ code: 1, output: expect.stringMatching(/crash loop/) });
    expect(output).toMatch(/crash loop: enroll died 3 times within 60 s \(last: exit code \d+; START_RESTART_LIMIT=2/);
    expect(output.match(/started enroll \(pid/g)).toHaveLength(3);
    expect(output).toMatch(/enroll exited unexpectedly \(exit code \d+\); restarting it in 0\.1 s/);
    expect(output).toMatch(/enroll exited unexpectedly \(exit code \d+\); restarting it in 0\.2 s/);
    for (const service of ['gateway', 'signer']) expect(alive(pidOf(stack, service))).toBe(false);
    expect(await healthy(stack.ports.gateway)).toBe(false);
  }, 180_000);

  it('refuses a malformed restart policy in one line naming the variable', async () => {
    const stack = await startStack('bad-policy', { START_RESTART_LIMIT: 'many' });
    expect(await stack.exited).toBe(1);
    expect(stack.output()).toMatch(/START_RESTART_LIMIT must be a whole number >= 0/);
  }, 60_000);
});
