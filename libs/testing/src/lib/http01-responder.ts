/**
 * An ACME http-01 responder on loopback, as a client's web server would be: GET
 * /.well-known/acme-challenge/<token> answers what `answers` holds for the token (the key authorization,
 * or anything else a test wants validation to refuse), 404 otherwise.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Http01Responder {
  port: number;
  /** token -> the body to answer with. */
  answers: Map<string, string>;
  close(): Promise<void>;
}

/** Listen on 127.0.0.1 at `port` (0: a free one). */
export async function startHttp01Responder(port = 0): Promise<Http01Responder> {
  const answers = new Map<string, string>();
  const server = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const answer = token ? answers.get(token) : undefined;
    res.writeHead(answer ? 200 : 404).end(answer ?? 'no');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    answers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
