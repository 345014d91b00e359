/**
 * The HTTP side the API providers share: one request with the operation's deadline, the answer's text,
 * and errors that say which request failed and what the API said, truncated and with every credential
 * (and any token obtained with one) cut out, even when the API echoes it back.
 */
import { DnsProviderError } from './dns-provider-error';
import type { DnsProviderType } from './dns-provider-config';
import { canonicalName, zoneCandidates } from './dns-names';

/** How much of an API's own error text an error carries. */
const MAX_DETAIL_LENGTH = 300;
/** Waits between looks at a change that the API applies in the background. */
const FIRST_POLL_MS = 500;
const MAX_POLL_MS = 4_000;
const REDACTED = '[redacted]';

/** One `present` or `cleanup`: its provider, the strings never to repeat, and its deadline. */
export class ApiCall {
  readonly signal: AbortSignal;

  constructor(
    readonly provider: DnsProviderType,
    private readonly secrets: string[],
    private readonly timeoutMs: number,
  ) {
    this.signal = AbortSignal.timeout(timeoutMs);
  }

  /** Adds a string (a bearer token obtained during the call) to those cut out of errors. */
  keepSecret(secret: string): void {
    this.secrets.push(secret);
  }

  /** `text` without any secret, cut to `max` characters. */
  clean(text: string, max = MAX_DETAIL_LENGTH): string {
    let out = text;
    for (const secret of this.secrets) if (secret.length >= 4) out = out.split(secret).join(REDACTED);
    out = out.replace(/\s+/g, ' ').trim();
    return out.length > max ? `${out.slice(0, max)}…` : out;
  }

  error(message: string): DnsProviderError {
    return new DnsProviderError(this.provider, this.clean(message, 2 * MAX_DETAIL_LENGTH));
  }

  /** The request failed at the API: `what` (the request), its status and the API's own words. */
  refused(what: string, status: number, detail: string): DnsProviderError {
    return this.error(`${what} answered HTTP ${status}: ${this.clean(detail) || '(no detail)'}`);
  }

  async request(method: string, url: URL, init: { headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
    const what = `${method} ${url.pathname}`;
    try {
      const res = await fetch(url, { method, headers: init.headers, body: init.body, redirect: 'manual', signal: this.signal });
      return { status: res.status, text: await res.text() };
    } catch (error) {
      if (this.signal.aborted) throw this.error(`${what}: no answer within ${this.timeoutMs} ms`);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw this.error(`${what}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
  }

  /** A JSON request; `expect` are the statuses that are answers (others are errors, with `detail` of the body). */
  async json(
    method: string,
    url: URL,
    options: { headers?: Record<string, string>; body?: unknown; expect?: number[]; detail: (body: unknown, text: string) => string },
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const res = await this.request(method, url, { headers, body });
    const parsed = parseJson(res.text);
    const expect = options.expect ?? [200];
    if (!expect.includes(res.status)) throw this.refused(`${method} ${url.pathname}`, res.status, options.detail(parsed, res.text));
    return { status: res.status, body: parsed };
  }

  /**
   * The first zone that `probe` recognizes among those that could hold `fqdn` (longest first: the name,
   * then each name above it), or an error saying that none in `where` holds it.
   */
  async findZone<T>(fqdn: string, where: string, probe: (candidate: string) => Promise<T | undefined>): Promise<T> {
    for (const candidate of zoneCandidates(fqdn)) {
      const found = await probe(candidate);
      if (found !== undefined) return found;
    }
    throw this.error(`no ${where} holds ${canonicalName(fqdn)}`);
  }

  /** Asks `done` after 0.5, 1, 2, 4, 4 ... s until it says yes; throws at the deadline. */
  async waitUntil(what: string, done: () => Promise<boolean>): Promise<void> {
    for (let wait = FIRST_POLL_MS; ; wait = Math.min(2 * wait, MAX_POLL_MS)) {
      await this.pause(wait, what);
      if (await done()) return;
    }
  }

  /** Waits `ms`, or throws at the deadline. */
  async pause(ms: number, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.error(`${what}: not done within ${this.timeoutMs} ms`));
      };
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      if (this.signal.aborted) onAbort();
      else this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `base` (an origin, maybe with a path prefix) joined with `path` and query parameters. */
export function apiUrl(base: string, path: string, query: Record<string, string> = {}): URL {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url;
}

/** A property of a JSON value, when it is an object. */
export function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}
