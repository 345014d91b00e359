/**
 * A webhook receiver for the webhook suites: an HTTP server on loopback that keeps every request it gets
 * and verifies its Signet-Signature (API.md section 9) with the secret registered for its path, as a
 * receiver in the world would: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, compared in constant time.
 * Per path it can answer 500 for the first N requests, or hang (hold the request unanswered).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  rawBody: string;
  body: any;
  /** Whether Signet-Signature verified with the path's secret. */
  verified: boolean;
  /** The status answered; null while held (or never answered). */
  status: number | null;
}

export interface WebhookReceiver {
  url(path: string): string;
  /** The secret of the webhook whose URL is this path. */
  secrets: Map<string, string>;
  requests(path: string): ReceivedRequest[];
  /** Answer 500 to the next `n` requests at `path`. */
  failFirst(path: string, n: number): void;
  /** Answer requests at `path` with a 302 to `target` (a path of this receiver). */
  redirect(path: string, target: string): void;
  /** Hold requests at `path` unanswered, until release. */
  hang(path: string): void;
  /** How many held requests at `path` are still open. */
  hanging(path: string): number;
  /** Drop the held requests' connections (the sender sees no answer) and answer later ones 200. */
  release(path: string): void;
  close(): Promise<void>;
}

export function verifySignature(header: string | undefined, body: string, secret: string | undefined): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match || !secret) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex')) && Math.abs(Date.now() / 1000 - Number(match[1])) < 300;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const secrets = new Map<string, string>();
  const failures = new Map<string, number>();
  const hangs = new Map<string, Set<ServerResponse>>();
  const redirects = new Map<string, string>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = rawBody;
      }
      const entry: ReceivedRequest = { path, headers: req.headers, rawBody, body, verified: verifySignature(req.headers['signet-signature'] as string | undefined, rawBody, secrets.get(path)), status: null };
      received.push(entry);
      const held = hangs.get(path);
      if (held) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      const target = redirects.get(path);
      if (target) {
        entry.status = 302;
        return void res.writeHead(302, { location: `http://127.0.0.1:${port}${target}` }).end();
      }
      const left = failures.get(path) ?? 0;
      entry.status = left > 0 ? 500 : 200;
      if (left > 0) failures.set(path, left - 1);
      res.writeHead(entry.status, { 'content-type': 'text/plain' }).end(entry.status === 200 ? 'ok' : 'not now');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;

  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    secrets,
    requests: (path) => received.filter((r) => r.path === path),
    failFirst: (path, n) => void failures.set(path, n),
    redirect: (path, target) => void redirects.set(path, target),
    hang: (path) => void hangs.set(path, new Set()),
    hanging: (path) => hangs.get(path)?.size ?? 0,
    release: (path) => {
      const held = hangs.get(path);
      hangs.delete(path);
      for (const res of held ?? []) res.destroy();
    },
    close: () => {
      for (const held of hangs.values()) for (const res of held) res.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
