/**
 * The `exec` provider, as lego's: `<command> present <fqdn> <value>` before validation and `<command>
 * cleanup <fqdn> <value>` after, `fqdn` with its final dot. The command is a program's absolute path run
 * with that argv and no shell (nothing in a name or value is interpreted), in its own process group, with
 * a small environment (PATH, HOME, LANG, TZ: none of the gateway's secrets), within the operation's time:
 * past it the whole group is killed, as is whatever the command left running when it exits. A non-zero exit is an error carrying the start of what it wrote to
 * stderr.
 */
import { spawn } from 'node:child_process';
import type { DnsProvider } from './dns-provider';
import type { ExecConfig } from './dns-provider-config';
import { DnsProviderError } from './dns-provider-error';
import { absolute } from './dns-names';

/** stderr kept for the error, and the part of it the error carries. */
const MAX_STDERR_BYTES = 8192;
const MAX_STDERR_IN_ERROR = 500;
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

function hookEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

function run(command: string, args: string[], timeoutMs: number): Promise<void> {
  const what = `${command} ${args[0]}`;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: hookEnv(), shell: false });
    const stderr: Buffer[] = [];
    let kept = 0;
    let timedOut = false;
    child.stderr.on('data', (chunk: Buffer) => {
      if (kept >= MAX_STDERR_BYTES) return;
      stderr.push(chunk.subarray(0, MAX_STDERR_BYTES - kept));
      kept += chunk.length;
    });
    const killGroup = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new DnsProviderError('exec', `${what}: could not run it (${error.code ?? error.message})`));
    });
    // What the hook left running in the background dies with it (and lets go of stderr): its step is over.
    child.on('exit', killGroup);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new DnsProviderError('exec', `${what}: killed after ${timeoutMs} ms without finishing`));
      if (code === 0) return resolve();
      let text = Buffer.concat(stderr).toString('utf8').replace(/\s+/g, ' ').trim();
      if (text.length > MAX_STDERR_IN_ERROR) text = `${text.slice(0, MAX_STDERR_IN_ERROR)}…`;
      const how = code === null ? `was killed by ${signal}` : `exited with status ${code}`;
      reject(new DnsProviderError('exec', `${what} ${how}${text ? `: ${text}` : ''}`));
    });
  });
}

export function execProvider(config: ExecConfig, timeoutMs: number): DnsProvider {
  return {
    present: (fqdn, value) => run(config.command, ['present', absolute(fqdn), value], timeoutMs),
    cleanup: (fqdn, value) => run(config.command, ['cleanup', absolute(fqdn), value], timeoutMs),
  };
}
