/**
 * A local HTTP server standing in for a DNS provider's API in the tests: every request is recorded
 * (method, path, query, headers, body as received) and answered by the test's handler, which plays the
 * API's documented endpoints over its own in-memory records.
 */
import { createServer, IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInRequest {
  method: string;
  /** The path as received (still percent-encoded). */
  path: string;
  query: Record<string, string>;
  /** The raw query string, without `?`. */
  search: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it is. */
  json: unknown;
}

export interface StandInAnswer {
  status: number;
  /** An object is sent as JSON; a string as it is (with `contentType`). */
  body?: unknown;
  contentType?: string;
}

export interface StandIn {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  requests: StandInRequest[];
  /** `METHOD /path?query` of each request, in order. */
  lines(): string[];
  close(): Promise<void>;
}

export async function startStandIn(handler: (request: StandInRequest) => StandInAnswer | Promise<StandInAnswer>): Promise<StandIn> {
  const requests: StandInRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const request: StandInRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        search: url.search.replace(/^\?/, ''),
        headers: req.headers,
        body,
        json,
      };
      requests.push(request);
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (answer) => {
            const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
            const contentType = answer.contentType ?? (typeof answer.body === 'string' ? 'text/plain' : 'application/json');
            res.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': contentType });
            res.end(text);
          },
          (error: Error) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`stand-in failed: ${error.message}`);
          },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    lines: () => requests.map((r) => `${r.method} ${r.path}${r.search ? `?${r.search}` : ''}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
