/**
 * Real ACME clients (certbot, lego, caddy, dehydrated) and openssl as child processes of a test: each
 * with exactly the environment it is given (plus PATH and a HOME of the test's), a deadline, and its
 * output kept for the failure message. Every process a ToolBox starts is ended by `close()`, so a
 * failed test leaves no client listening on a port.
 */
import { ChildProcess, spawn } from 'node:child_process';

export interface ToolResult {
  command: string;
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they came. */
  output: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Killed (SIGKILL) after this long; default 90 s. */
  timeoutMs?: number;
  /** Written to the process's stdin, which is then closed. */
  input?: string;
}

export interface LongRunning {
  child: ChildProcess;
  output: () => string;
  /** SIGTERM, then SIGKILL after `graceMs`; answers the exit code. */
  stop: (graceMs?: number) => Promise<number | null>;
}

const tail = (text: string, chars = 6000) => (text.length > chars ? `...${text.slice(-chars)}` : text);

export class ToolBox {
  private readonly running = new Set<ChildProcess>();

  constructor(
    /** HOME for every tool (certbot, caddy and lego look there for defaults). */
    private readonly home: string,
    /** What a failure message adds after the tool's output: the gateway's log, typically. */
    private readonly context: () => string = () => '',
  ) {}

  private envFor(extra: Record<string, string> = {}): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...extra };
  }

  /** Run `command` to its end (or its deadline); never throws on a non-zero exit. */
  run(command: string, args: string[], options: RunOptions = {}): Promise<ToolResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { env: this.envFor(options.env), cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      let output = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        output += chunk;
      });
      const timeoutMs = options.timeoutMs ?? 90_000;
      const timer = setTimeout(() => {
        output += `\n[test] killed after ${timeoutMs} ms\n`;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        this.running.delete(child);
        reject(error);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        this.running.delete(child);
        resolve({ command: [command, ...args].join(' '), code, stdout, stderr, output });
      });
      // A tool that never reads its stdin may be gone before the write: that is no failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  }

  /** Like run, but a non-zero exit throws with the tool's output and the context (the server's log). */
  async mustRun(command: string, args: string[], options: RunOptions = {}): Promise<ToolResult> {
    const result = await this.run(command, args, options);
    if (result.code !== 0) throw new Error(this.explain(result, `exited ${result.code}`));
    return result;
  }

  /** A failure message: what ran, what it said, and what the context says. */
  explain(result: ToolResult, what: string): string {
    const context = this.context();
    return `${result.command}\n${what}; its output:\n${tail(result.output)}${context ? `\n--- context ---\n${tail(context)}` : ''}`;
  }

  /** A server-like tool (caddy) that runs until stopped. */
  start(command: string, args: string[], options: Omit<RunOptions, 'timeoutMs' | 'input'> = {}): LongRunning {
    const child = spawn(command, args, { env: this.envFor(options.env), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(child);
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', (error) => {
        output += `\n[test] could not start ${command}: ${error.message}\n`;
        resolve(null);
      });
      child.on('exit', (code) => {
        this.running.delete(child);
        resolve(code);
      });
    });
    const stop = async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    };
    return { child, output: () => output, stop };
  }

  /** End every process still running (SIGTERM, SIGKILL after a grace period). */
  async close(graceMs = 5000): Promise<void> {
    const children = [...this.running];
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    this.running.clear();
  }
}

/** Poll `probe` until it answers something truthy; after `timeoutMs` throw `describe()`'s text. */
export async function pollFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs: number, describe: () => string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
