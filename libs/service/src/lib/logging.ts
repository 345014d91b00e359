/**
 * JSON logs (pino) with a request id on every line and secrets redacted.
 *
 * The request id is the caller's `X-Request-Id` when it sends a sane one, else a new UUID; it is echoed
 * in the response header and in every error body.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { LoggerModule, Params } from 'nestjs-pino';
import pino from 'pino';

/** The root logger when the app's level writes no access line (loggerModule), from nestjs-pino's params. */
export function lazyLoggerRoot(params: Params | undefined): pino.Logger | undefined {
  return params?.useExisting && params.pinoHttp && 'logger' in params.pinoHttp ? (params.pinoHttp as { logger: pino.Logger }).logger : undefined;
}

/** Gives `req` its lazy logger when the app's level writes no access line (createHttpApp calls it first). */
export function attachLazyRequestLogger(root: pino.Logger | undefined, req: IncomingMessage & { log?: pino.Logger }): void {
  if (root) req.log = lazyRequestLogger(root, req);
}

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

/** What an access line and a request-bound line say about the request (the raw node:http request). */
function requestSerializer(req: IncomingMessage & { id?: string; originalUrl?: string }) {
  return {
    id: req.id,
    method: req.method,
    url: withoutSecrets(req.originalUrl ?? req.url ?? ''),
    remoteAddress: req.socket?.remoteAddress,
  };
}

/** Whether `level` writes the access lines (pino-http's, at info). */
const writesAccessLines = (level: string): boolean => ['trace', 'debug', 'info'].includes(level);

/**
 * A request's logger for a level that writes no access line: made (a pino child carrying the request)
 * only when something logs inside the request, so a request that logs nothing costs one small object.
 */
function lazyRequestLogger(root: pino.Logger, req: IncomingMessage): pino.Logger {
  let real: pino.Logger | undefined;
  const logger = () => (real ??= root.child({ req }));
  return new Proxy({} as pino.Logger, {
    get: (_target, property) => {
      const value = Reflect.get(logger(), property);
      return typeof value === 'function' ? value.bind(logger()) : value;
    },
    set: (_target, property, value) => Reflect.set(logger(), property, value),
  });
}

export function loggerModule(app: string, level: string) {
  const options = {
    level,
    name: app,
    // The app on every line, request-bound or not (pino-http's customProps made a child per request for it).
    base: { pid: process.pid, hostname: hostname(), app },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: requestSerializer,
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  if (!writesAccessLines(level)) {
    // No access line at this level: no pino-http at all (its child logger, request serialization and
    // listeners cost ~15% of a light request). createHttpApp's first middleware gives each request a
    // lazy logger (req.log) that nestjs-pino binds, so warnings and errors still carry the request.
    const root = pino(options);
    return LoggerModule.forRoot({ pinoHttp: { logger: root }, useExisting: true });
  }
  return LoggerModule.forRoot({
    pinoHttp: {
      ...options,
      // Our serializers read the raw request and response: no std-serializers copy of every header first.
      wrapSerializers: false,
      // createHttpApp assigns the id before any parser runs; reuse it.
      genReqId: (req, res) => (req as IncomingMessage & { id?: string }).id ?? requestIdFor(req, res),
      // Health probes and scrapes every few seconds would drown the useful lines.
      autoLogging: { ignore: (req) => /^\/(healthz|readyz|metrics)$/.test(req.url ?? '') },
    },
  });
}
