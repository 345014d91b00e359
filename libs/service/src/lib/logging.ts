/**
 * JSON logs (pino) with a request id on every line and secrets redacted.
 *
 * The request id is the caller's `X-Request-Id` when it sends a sane one, else a new UUID; it is echoed
 * in the response header and in every error body.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';

/** Paths pino blanks out wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.privateKey',
  '*.privateKeyPem',
  '*.passphrase',
  '*.caPassphrase',
  '*.password',
  '*.masterKey',
  '*.MASTER_KEY',
  '*.PLATFORM_ADMIN_KEY',
  '*.key',
  '*.secret',
  'privateKey',
  'privateKeyPem',
  'passphrase',
  'caPassphrase',
];

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane one, else a new UUID (for servers that write their own headers). */
export function chooseRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

export function requestIdFor(req: IncomingMessage, res: ServerResponse): string {
  const id = chooseRequestId(req);
  res.setHeader('X-Request-Id', id);
  return id;
}

/** A URL as logged: a `password` query value (a PKCS#12 download's) never reaches a log line. */
export const withoutSecrets = (url: string): string => (url?.includes('assword=') ? url.replace(/([?&]password=)[^&#]*/gi, '$1[redacted]') : url);

export function loggerModule(app: string, level: string) {
  return LoggerModule.forRoot({
    pinoHttp: {
      level,
      name: app,
      // createHttpApp assigns the id before any parser runs; reuse it.
      genReqId: (req, res) => (req as IncomingMessage & { id?: string }).id ?? requestIdFor(req, res),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Health probes and scrapes every few seconds would drown the useful lines.
      autoLogging: { ignore: (req) => /^\/(healthz|readyz|metrics)$/.test(req.url ?? '') },
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: withoutSecrets(req.url),
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customProps: () => ({ app }),
    },
  });
}
