/**
 * The agent's only connection: out to the gateway, with its key. Calls are retried with exponential
 * backoff (with jitter) while the gateway is unreachable or answers 429/5xx. Reports go through a spool
 * on disk first (written durably before any attempt to send, removed only when the gateway took them),
 * so a report survives the gateway being down and the agent being restarted.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class GatewayError extends Error {
  constructor(message: string, readonly status: number | null, readonly body: unknown) {
    super(message);
  }

  /** Worth trying again later: no answer, a rate limit or a server-side failure. */
  get transient(): boolean {
    return this.status === null || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface RetryPolicy {
  /** Give up (throw the last transient error) after this long; Infinity: never. */
  maxElapsedMs: number;
  signal?: AbortSignal;
}

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;

export class GatewayClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
    private readonly userAgent: string,
    private readonly log: (message: string) => void,
  ) {}

  /** One call; a GatewayError for anything but 2xx. `timeoutMs` covers long polls. */
  async call<T>(method: string, path: string, body: unknown, timeoutMs = 30_000): Promise<{ status: number; body: T | null }> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json', 'user-agent': this.userAgent },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new GatewayError(`gateway unreachable: ${cause ?? (error as Error).message}`, null, null);
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (!response.ok) {
      const said = (parsed as { error?: string } | null)?.error ?? `HTTP ${response.status}`;
      throw new GatewayError(`${method} ${path}: ${response.status} ${said}`, response.status, parsed);
    }
    return { status: response.status, body: parsed as T };
  }

  /** `call`, retried with backoff on transient failures until `policy.maxElapsedMs`. */
  async callWithRetry<T>(method: string, path: string, body: unknown, policy: RetryPolicy, timeoutMs?: number): Promise<{ status: number; body: T | null }> {
    const started = Date.now();
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        return await this.call<T>(method, path, body, timeoutMs);
      } catch (error) {
        if (!(error instanceof GatewayError) || !error.transient) throw error;
        const wait = Math.min(backoff, MAX_BACKOFF_MS) * (0.5 + Math.random() / 2);
        if (policy.signal?.aborted || Date.now() - started + wait > policy.maxElapsedMs) throw error;
        this.log(`${error.message}; retrying in ${Math.round(wait / 100) / 10} s`);
        await sleep(wait, undefined, { signal: policy.signal }).catch(() => undefined);
        backoff *= 2;
      }
    }
  }
}

interface SpooledReport {
  method: 'POST';
  path: string;
  body: unknown;
}

/** Reports waiting to be sent, oldest first, one file each. */
export class Spool {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'spool');
  }

  /** Durably on disk before this returns. */
  async add(report: SpooledReport): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const name = `${Date.now().toString().padStart(15, '0')}-${randomUUID()}.json`;
    const tmp = join(this.dir, `.${name}.tmp`);
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.writeFile(JSON.stringify(report));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, join(this.dir, name));
  }

  async pending(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /**
   * Send every spooled report, oldest first. A report the gateway refuses for good (4xx: malformed, or
   * about a deployment that no longer exists) is dropped with a log line; a transient failure stops the
   * flush with the error, the report kept. Returns how many were sent.
   */
  async flush(client: GatewayClient, policy: RetryPolicy, log: (message: string) => void): Promise<number> {
    let sent = 0;
    for (const name of await this.pending()) {
      const path = join(this.dir, name);
      let report: SpooledReport;
      try {
        report = JSON.parse(await readFile(path, 'utf8')) as SpooledReport;
      } catch {
        log(`spooled report ${name} is unreadable: dropped`);
        await rm(path, { force: true });
        continue;
      }
      try {
        await client.callWithRetry(report.method, report.path, report.body, policy);
        sent++;
      } catch (error) {
        if (error instanceof GatewayError && !error.transient) log(`the gateway refused a spooled report (${error.message}): dropped`);
        else throw error;
      }
      await rm(path, { force: true });
    }
    return sent;
  }
}
