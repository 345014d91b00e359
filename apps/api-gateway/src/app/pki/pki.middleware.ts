/**
 * The public PKI endpoints (API.md section 2), served before Nest's router, authentication and rate
 * limits: relying parties hold no key, OCSP traffic scales with every TLS handshake of every client, and
 * the answers are public bytes signed elsewhere. Caching follows RFC 5019 6.2: Last-Modified is
 * thisUpdate, Expires is nextUpdate, max-age runs until nextUpdate, ETag is a hash of the bytes.
 *
 *   GET  /pki/ocsp/<url-encoded base64 of the DER request>
 *   POST /pki/ocsp                 body: application/ocsp-request (DER)
 *   GET  /pki/cas/:caId/crl        DER CRL (the CRL distribution point)
 *   GET  /pki/cas/:caId/ca.crt     DER CA certificate (the AIA caIssuers URL)
 */
import { MAX_OCSP_REQUEST_BYTES, OCSP_MALFORMED_REQUEST, OCSP_INTERNAL_ERROR } from '@signet/pki';
import { Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { OcspAnswer, PkiStore, etagOf } from './pki-store';

const logger = new Logger('PkiEndpoints');
const CRL_PATH = /^\/pki\/cas\/([^/]+)\/(crl|ca\.crt)$/;

export function pkiEndpoints(store: PkiStore): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const path = req.path;
    if (!path.startsWith('/pki/')) return next();
    let work: Promise<void> | null = null;
    if (path === '/pki/ocsp' && req.method === 'POST') work = ocspPost(store, req, res);
    else if (path.startsWith('/pki/ocsp/') && (req.method === 'GET' || req.method === 'HEAD')) {
      // The raw path: base64 may hold '/', and Express's req.path is already decoded once.
      const raw = req.originalUrl.split('?')[0].slice('/pki/ocsp/'.length);
      work = store.ocsp(raw).then((answer) => sendOcsp(req, res, answer));
    } else {
      const match = CRL_PATH.exec(path);
      if (match && (req.method === 'GET' || req.method === 'HEAD')) work = match[2] === 'crl' ? sendCrl(store, req, res, match[1]) : sendCaCertificate(store, req, res, match[1]);
    }
    if (!work) return next();
    work.catch((error) => {
      if (path.startsWith('/pki/ocsp')) {
        logger.error({ err: (error as Error).message }, 'OCSP lookup failed');
        if (!res.headersSent) res.status(200).type('application/ocsp-response').set('Cache-Control', 'no-store').end(OCSP_INTERNAL_ERROR);
        return;
      }
      next(error);
    });
  };
}

/** The body, read here (the JSON parser ignores it), bounded like the signing lib bounds requests. */
function ocspPost(store: PkiStore, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OCSP_REQUEST_BYTES) {
        if (!refused) sendOcsp(req, res, { body: OCSP_MALFORMED_REQUEST });
        refused = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return resolve();
      store.ocsp(Buffer.concat(chunks)).then((answer) => resolve(sendOcsp(req, res, answer)), reject);
    });
    req.on('error', reject);
  });
}

function sendOcsp(req: Request, res: Response, answer: OcspAnswer): void {
  res.status(200).type('application/ocsp-response');
  if (answer.signed) {
    const maxAge = Math.max(0, Math.floor((answer.signed.nextUpdate.getTime() - Date.now()) / 1000));
    res.set({
      'Cache-Control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
      'Last-Modified': answer.signed.thisUpdate.toUTCString(),
      Expires: answer.signed.nextUpdate.toUTCString(),
      ETag: etagOf(answer.body),
    });
    if (req.method !== 'POST' && req.headers['if-none-match'] === res.get('ETag')) {
      res.status(304).end();
      return;
    }
  } else {
    // Errors and unauthorized are not worth caching: the answer may change once the serial exists.
    res.set('Cache-Control', 'no-store');
  }
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

async function sendCrl(store: PkiStore, req: Request, res: Response, caId: string): Promise<void> {
  const crl = await store.crl(caId);
  if (!crl) return notFound(res, 'CRL');
  const maxAge = Math.max(0, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000));
  // The ETag is the CRL number: it changes exactly when the CRL does, and costs no hashing of 40 MB.
  res.set({
    'Content-Type': 'application/pkix-crl',
    'Cache-Control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
    'Last-Modified': crl.thisUpdate.toUTCString(),
    Expires: crl.nextUpdate.toUTCString(),
    ETag: `"crl-${crl.crlNumber}"`,
  });
  if (req.headers['if-none-match'] === `"crl-${crl.crlNumber}"`) {
    res.status(304).end();
    return;
  }
  res.status(200).end(req.method === 'HEAD' ? undefined : crl.der);
}

async function sendCaCertificate(store: PkiStore, req: Request, res: Response, caId: string): Promise<void> {
  const ca = await store.ca(caId);
  if (!ca) return notFound(res, 'certificate authority');
  res.set({ 'Content-Type': 'application/pkix-cert', 'Cache-Control': 'max-age=86400, public', ETag: etagOf(ca.der) });
  res.status(200).end(req.method === 'HEAD' ? undefined : ca.der);
}

function notFound(res: Response, what: string): void {
  res.status(404).json({ error: `${what} not found`, code: 'not_found', status: 404, details: {}, requestId: res.get('X-Request-Id') });
}
