/**
 * The exec provider with real scripts: the argv it passes (lego's `present|cleanup <fqdn.> <value>`,
 * nothing interpreted by a shell), the small environment, a failing hook's stderr in the error, and a
 * hanging hook killed with everything it started.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnsProvider } from './dns-provider';
import { rejection } from './test/rejection';

describe('exec provider', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'signet-exec-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  /** Lines of a file of NUL-separated argv lists, one list per line. */
  const calls = (path: string): string[][] =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\0').slice(0, -1));

  /** Is `pid` still running (a zombie waiting for init to reap it is not)? */
  const alive = (pid: number): boolean => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
    } catch {
      return false;
    }
  };

  /** Waits up to a second for `pid` to finish dying (a SIGKILLed process takes a moment to exit). */
  const gone = async (pid: number): Promise<boolean> => {
    for (let i = 0; i < 20 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    return !alive(pid);
  };

  it('runs `<command> present <fqdn.> <value>` and `cleanup` with exactly that argv, no shell, and none of the gateway environment', async () => {
    const log = join(dir, 'argv');
    const env = join(dir, 'env');
    const command = script('record.sh', `printf '%s\\0' "$@" >> '${log}'; echo >> '${log}'; env > '${env}'`);
    process.env['SIGNET_TEST_GATEWAY_SECRET'] = 'do-not-pass-me';
    try {
      const provider = dnsProvider({ type: 'exec', command }, { timeoutMs: 5_000 });
      const hostile = `$(touch ${join(dir, 'pwned')}); \`id\` "x" 'y' *`;
      await provider.present('_acme-challenge.www.example.com', 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0');
      await provider.cleanup('_acme-challenge.www.example.com.', hostile);
      expect(calls(log)).toEqual([
        ['present', '_acme-challenge.www.example.com.', 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0'],
        ['cleanup', '_acme-challenge.www.example.com.', hostile],
      ]);
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
      const passed = readFileSync(env, 'utf8');
      expect(passed).toContain(`PATH=${process.env['PATH']}`);
      expect(passed).not.toContain('SIGNET_TEST_GATEWAY_SECRET');
      expect(passed).not.toContain('DATABASE_URL');
    } finally {
      delete process.env['SIGNET_TEST_GATEWAY_SECRET'];
    }
  });

  it("fails on a non-zero exit with the start of the hook's stderr", async () => {
    const command = script('fail.sh', `echo "update failed: REFUSED for zone example.com" >&2; exit 3`);
    await expect(dnsProvider({ type: 'exec', command }).present('_acme-challenge.example.com', 'v')).rejects.toThrow(
      `exec: ${command} present exited with status 3: update failed: REFUSED for zone example.com`,
    );
    const noisy = script('noisy.sh', `i=0; while [ $i -lt 400 ]; do printf 'line %03d of too much output\\n' $i >&2; i=$((i+1)); done; exit 1`);
    const error = await rejection(dnsProvider({ type: 'exec', command: noisy }).cleanup('_acme-challenge.example.com', 'v'));
    expect(error.message).toMatch(new RegExp(`^exec: ${noisy} cleanup exited with status 1: line 000 of too much output line 001 `));
    expect(error.message.endsWith('…')).toBe(true);
    expect(error.message.length).toBeLessThan(700);
  });

  it('says when the command cannot be run', async () => {
    await expect(dnsProvider({ type: 'exec', command: join(dir, 'missing.sh') }).present('a.example.com', 'v')).rejects.toThrow(
      `exec: ${join(dir, 'missing.sh')} present: could not run it (ENOENT)`,
    );
  });

  it('kills a hook that hangs at the timeout, with what it started', async () => {
    const pids = join(dir, 'hang-pids');
    const command = script('hang.sh', `sleep 60 & echo $$ $! > '${pids}'; wait`);
    const started = Date.now();
    await expect(dnsProvider({ type: 'exec', command }, { timeoutMs: 700 }).present('_acme-challenge.example.com', 'v')).rejects.toThrow(
      `exec: ${command} present: killed after 700 ms without finishing`,
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    expect(await gone(shell)).toBe(true);
    expect(await gone(sleeper)).toBe(true);
  });

  it('returns when the hook exits, even when it leaves something running that holds stderr (which is ended)', async () => {
    const pids = join(dir, 'bg-pids');
    const command = script('background.sh', `sleep 60 >&2 & echo $! > '${pids}'; exit 0`);
    const started = Date.now();
    await dnsProvider({ type: 'exec', command }, { timeoutMs: 10_000 }).present('_acme-challenge.example.com', 'v');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await gone(Number(readFileSync(pids, 'utf8').trim()))).toBe(true);
  });
});
