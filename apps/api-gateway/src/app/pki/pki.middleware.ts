/**
 * The public PKI endpoints (API.md section 2), answered by node:http before Express sees the request:
 * relying parties hold no key, OCSP traffic scales with every TLS handshake of every client, the answers
 * are public bytes signed elsewhere, and Express's per-request work cost more CPU than everything else on
 * this path (docs/BENCHMARKS.md). Caching follows RFC 5019 6.2: Last-Modified is thisUpdate, Expires is
 * nextUpdate, max-age runs until nextUpdate, ETag is a hash of the bytes (the CRL number for a CRL).
 *
 *   GET  /pki/ocsp/<url-encoded base64 of the DER request>
 *   POST /pki/ocsp                 body: application/ocsp-request (DER)
 *   GET  /pki/cas/:caId/crl        DER CRL (the CRL distribution point)
 *   GET  /pki/cas/:caId/crl/:shard DER CRL of one shard (the distribution point of a sharded CA's leaves)
 *   GET  /pki/cas/:caId/ca.crt     DER CA certificate (the AIA caIssuers URL)
 *
 * Anything else, other methods on these paths included, goes to Express as before. Each answer carries
 * X-Request-Id and is counted in the same request metrics as Express's (route labels as above).
 */
import { Logger } from '@nestjs/common';
import { MAX_OCSP_REQUEST_BYTES, OCSP_INTERNAL_ERROR, OCSP_MALFORMED_REQUEST } from '@signet/pki';
import { parseCrlShard } from '@signet/queue';
import { chooseRequestId, httpRequestDuration, httpRequestsTotal } from '@signet/service';
import type { IncomingMessage, OutgoingHttpHeader, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ocspRequests, ocspStatusOf } from '../gateway-metrics';
import { OcspAnswer, PkiStore } from './pki-store';

const logger = new Logger('PkiEndpoints');
const CRL_PATH = /^\/pki\/cas\/([^/]+)\/(crl|ca\.crt|crl\/[^/]+)$/;
const OCSP_TYPE = 'application/ocsp-response';
const CACHE_TAIL = ', public, no-transform, must-revalidate';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
type Route = '/pki/ocsp' | '/pki/ocsp/:request' | '/pki/cas/:caId/crl' | '/pki/cas/:caId/crl/:shard' | '/pki/cas/:caId/ca.crt';

/**
 * Puts the /pki endpoints in front of the server's request listeners (Express's): those run only for
 * requests the endpoints do not answer. Call once, before or after listen.
 */
export function installPkiEndpoints(server: Server, store: PkiStore): void {
  const others = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (servePki(store, req, res)) return;
    for (const listener of others) listener.call(server, req, res);
  });
}

/** True when this request is one of the endpoints' (and is answered, now or later). */
export function servePki(store: PkiStore, req: IncomingMessage, res: ServerResponse): boolean {
  const path = pathOf(req.url ?? '');
  if (!path.startsWith('/pki/')) return false;
  const method = req.method;
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/pki/ocsp') {
    if (method !== 'POST') return false;
    const started = performance.now();
    ocspPost(store, req, res, started);
    return true;
  }
  if (path.startsWith('/pki/ocsp/')) {
    if (!read) return false;
    const started = performance.now();
    // The raw path: base64 may hold '/', and parseOcspGetPath URL-decodes it once itself.
    store.ocsp(path.slice('/pki/ocsp/'.length))
      .then((answer) => sendOcsp(req, res, answer, '/pki/ocsp/:request', started))
      .catch((error) => ocspFailed(req, res, error, '/pki/ocsp/:request', started));
    return true;
  }
  const match = CRL_PATH.exec(path);
  if (!match || !read) return false;
  const started = performance.now();
  const what = match[2];
  const route = what === 'ca.crt' ? '/pki/cas/:caId/ca.crt' : what === 'crl' ? '/pki/cas/:caId/crl' : '/pki/cas/:caId/crl/:shard';
  const answer = what === 'ca.crt'
    ? sendCaCertificate(store, req, res, match[1], started)
    : sendCrl(store, req, res, match[1], what === 'crl' ? null : what.slice('crl/'.length), started);
  answer.catch((error) => {
    logger.error({ err: (error as Error).message, path }, 'PKI endpoint failed');
    if (res.headersSent) res.destroy();
    else sendError(req, res, 500, 'internal', 'internal server error', route, started);
  });
  return true;
}

/** The path without query, also of an absolute-form target (`GET http://host/pki/...`). */
function pathOf(url: string): string {
  let path = url;
  if (path.charCodeAt(0) !== 47 /* '/' */) {
    const slash = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
    if (!slash) return path;
    path = path.slice(slash[0].length) || '/';
  }
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** The body, bounded like the signing lib bounds requests. */
function ocspPost(store: PkiStore, req: IncomingMessage, res: ServerResponse, started: number): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > MAX_OCSP_REQUEST_BYTES) {
      refused = true;
      chunks.length = 0;
      sendOcsp(req, res, { body: OCSP_MALFORMED_REQUEST }, '/pki/ocsp', started);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    store.ocsp(body)
      .then((answer) => sendOcsp(req, res, answer, '/pki/ocsp', started))
      .catch((error) => ocspFailed(req, res, error, '/pki/ocsp', started));
  });
  req.on('error', () => res.destroy());
}

/** signet_ocsp_requests_total's child per status, kept: inc() with a label object hashes the labels each time. */
const ocspCounters = new Map<string, { inc: () => void }>();

function countOcsp(status: string): void {
  let counter = ocspCounters.get(status);
  if (!counter) ocspCounters.set(status, (counter = ocspRequests.labels({ status })));
  counter.inc();
}

function sendOcsp(req: IncomingMessage, res: ServerResponse, answer: OcspAnswer, route: Route, started: number): void {
  const signed = answer.signed;
  countOcsp(signed ? 'successful' : ocspStatusOf(answer.body));
  if (!signed) {
    // Errors and unauthorized are not worth caching: the answer may change once the serial exists.
    return send(req, res, 200, ['Content-Type', OCSP_TYPE, 'Cache-Control', 'no-store'], answer.body, route, started);
  }
  const maxAge = Math.max(0, Math.floor((signed.nextUpdateMs - Date.now()) / 1000));
  const headers = [
    'Content-Type', OCSP_TYPE,
    'Cache-Control', `max-age=${maxAge}${CACHE_TAIL}`,
    'Last-Modified', signed.lastModified,
    'Expires', signed.expires,
    'ETag', signed.etag,
  ];
  if (req.method !== 'POST' && req.headers['if-none-match'] === signed.etag) return send(req, res, 304, headers, undefined, route, started);
  send(req, res, 200, headers, answer.body, route, started);
}

function ocspFailed(req: IncomingMessage, res: ServerResponse, error: unknown, route: Route, started: number): void {
  logger.error({ err: (error as Error)?.message }, 'OCSP lookup failed');
  if (res.headersSent) return void res.destroy();
  countOcsp('internalError');
  send(req, res, 200, ['Content-Type', OCSP_TYPE, 'Cache-Control', 'no-store'], OCSP_INTERNAL_ERROR, route, started);
}

/** The full CRL (`shardText` null) or one shard's; a shard that is no number 0..255 names nothing (404). */
async function sendCrl(store: PkiStore, req: IncomingMessage, res: ServerResponse, caId: string, shardText: string | null, started: number): Promise<void> {
  const route = shardText === null ? '/pki/cas/:caId/crl' : '/pki/cas/:caId/crl/:shard';
  const shard = shardText === null ? null : parseCrlShard(shardText);
  const crl = shardText !== null && shard === null ? null : await store.crl(caId, shard);
  if (!crl) return sendError(req, res, 404, 'not_found', 'CRL not found', route, started);
  const maxAge = Math.max(0, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000));
  // The ETag is the CRL number: it changes exactly when the CRL does, and costs no hashing of 40 MB.
  const headers = [
    'Content-Type', 'application/pkix-crl',
    'Cache-Control', `max-age=${maxAge}${CACHE_TAIL}`,
    'Last-Modified', crl.lastModified,
    'Expires', crl.expires,
    'ETag', crl.etag,
  ];
  if (req.headers['if-none-match'] === crl.etag) return send(req, res, 304, headers, undefined, route, started);
  send(req, res, 200, headers, crl.der, route, started);
}

async function sendCaCertificate(store: PkiStore, req: IncomingMessage, res: ServerResponse, caId: string, started: number): Promise<void> {
  const route = '/pki/cas/:caId/ca.crt';
  const ca = await store.ca(caId);
  if (!ca) return sendError(req, res, 404, 'not_found', 'certificate authority not found', route, started);
  send(req, res, 200, ['Content-Type', 'application/pkix-cert', 'Cache-Control', 'max-age=86400, public', 'ETag', ca.etag], ca.der, route, started);
}

/** The API's error shape (API.md conventions). */
function sendError(req: IncomingMessage, res: ServerResponse, status: number, code: string, error: string, route: Route, started: number): void {
  const requestId = chooseRequestId(req);
  const body = Buffer.from(JSON.stringify({ error, code, status, details: {}, requestId }));
  send(req, res, status, ['Content-Type', 'application/json; charset=utf-8', 'Cache-Control', 'no-store'], body, route, started, requestId);
}

/** One writev of headers and body; Node leaves the body out for HEAD and 304 itself. */
function send(
  req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeader[], body: Buffer | undefined, route: Route, started: number,
  // In the header list, not setHeader: writeHead's fast path takes a list only while no header was set.
  requestId = chooseRequestId(req),
): void {
  if (res.headersSent || res.destroyed) return;
  headers.push('X-Request-Id', requestId);
  if (body && status !== 304) headers.push('Content-Length', body.length);
  res.writeHead(status, headers);
  res.end(body);
  countRequest(req.method ?? 'GET', route, status, started);
}

/** Children of the shared request metrics, one per label set seen, so a request costs two updates. */
const metricChildren = new Map<string, { observe: (seconds: number) => void; inc: () => void }>();

function countRequest(method: string, route: Route, status: number, started: number): void {
  const key = `${method} ${route} ${status}`;
  let child = metricChildren.get(key);
  if (!child) {
    const labels = { method, route, status: String(status) };
    const histogram = httpRequestDuration.labels(labels);
    const counter = httpRequestsTotal.labels(labels);
    child = { observe: (seconds) => histogram.observe(seconds), inc: () => counter.inc() };
    metricChildren.set(key, child);
  }
  child.observe((performance.now() - started) / 1000);
  child.inc();
}
