/**
 * The one way an HTTP Nest app of Signet starts: pino logger, body limit, the API error shape,
 * validation, request metrics, graceful shutdown.
 */
import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { json } from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Logger, PARAMS_PROVIDER_TOKEN, Params } from 'nestjs-pino';
import { ApiError } from './errors';
import { ApiExceptionFilter, BeforeErrorResponse, ErrorRenderer, toApiError } from './exception.filter';
import { attachLazyRequestLogger, lazyLoggerRoot, requestIdFor } from './logging';
import { refuseDeepBodies } from './request-text';
import { httpRequestDuration, httpRequestsTotal, initMetrics } from './metrics';
import { createValidationPipe } from './validation';
import { answerParserErrors } from './parser-errors';
import { shutdownTracing } from './tracing';

export interface HttpAppOptions {
  app: string;
  /** Max JSON body size in bytes. */
  bodyLimitBytes?: number;
  /** Middleware that must see every request before the body parser (so it sees refused bodies too). */
  earlyMiddleware?: (app: NestExpressApplication) => RequestHandler[];
  /** Called with every error before it is sent (see BeforeErrorResponse). */
  beforeErrorResponse?: (app: NestExpressApplication) => BeforeErrorResponse;
  /** Sends some requests' errors in their own shape (see ErrorRenderer). */
  errorRenderer?: (app: NestExpressApplication) => ErrorRenderer;
  /** Express's `trust proxy`: which hops' X-Forwarded-For counts for req.ip. Default: loopback. */
  trustProxy?: string | ((address: string, hop: number) => boolean);
  /** Extra set-up (raw body parsers, swagger, ...) before listen. */
  configure?: (app: NestExpressApplication) => void | Promise<void>;
}

function requestMetrics(req: Request, res: Response, next: NextFunction) {
  const end = httpRequestDuration.startTimer();
  res.on('finish', () => {
    // The matched route pattern, not the URL: ids in paths would explode label cardinality.
    const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
    const labels = { method: req.method, route, status: String(res.statusCode) };
    end(labels);
    httpRequestsTotal.inc(labels);
  });
  next();
}

/**
 * First of all: every response, even a refused body, carries the request id; below `info` the request
 * also gets its lazy logger here (loggerModule says why).
 */
function assignRequestId(app: INestApplication): RequestHandler {
  const root = lazyLoggerRoot(app.get<Params>(PARAMS_PROVIDER_TOKEN, { strict: false }));
  return (req, res, next) => {
    (req as Request & { id?: string }).id = requestIdFor(req, res);
    attachLazyRequestLogger(root, req);
    next();
  };
}

/** A JSON media type: application/json or any structured-syntax `+json` type. */
const isJsonType = (contentType: string | undefined): boolean => {
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
};

/**
 * Every API body is JSON (API.md): a body of another type, or of none, is refused with 415 before it is
 * read. Without this, body-parser skips the body and the request fails later as if fields were missing.
 * A request without a body (a POST with no content) passes whatever its Content-Type.
 */
function jsonBodiesOnly(req: Request, _res: Response, next: NextFunction) {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || isJsonType(req.headers['content-type'])) return next();
  next(new ApiError('unsupported_media_type', `request bodies are JSON: send Content-Type: application/json (got ${JSON.stringify((req.headers['content-type'] ?? 'none').slice(0, 100))})`));
}

/**
 * body-parser's failures become ApiErrors right here: left alone, Nest would map its SyntaxError to a
 * BadRequestException carrying JSON.parse's message instead of ours.
 */
function bodyParserErrors(err: unknown, _req: Request, _res: Response, next: NextFunction) {
  next(toApiError(err) ?? err);
}

export async function createHttpApp(module: Type<unknown> | DynamicModule, options: HttpAppOptions): Promise<NestExpressApplication> {
  initMetrics(options.app);
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? 'loopback');
  app.use(assignRequestId(app), requestMetrics, ...(options.earlyMiddleware?.(app) ?? []));
  // The parser reads exactly what jsonBodiesOnly lets through (`+json` types too, which it skips by default).
  app.use(jsonBodiesOnly, json({ limit: options.bodyLimitBytes ?? 1024 * 1024, type: (req) => isJsonType(req.headers['content-type']) }), bodyParserErrors, refuseDeepBodies);
  app.useGlobalFilters(new ApiExceptionFilter(options.beforeErrorResponse?.(app), options.errorRenderer?.(app)));
  app.useGlobalPipes(createValidationPipe());
  // Requests Node's parser refuses (431, malformed HTTP) get the API's error shape too.
  answerParserErrors(app.getHttpServer());
  await options.configure?.(app);
  return app;
}

/**
 * Graceful stop on SIGTERM/SIGINT: app.close() stops taking connections, lets in-flight requests and
 * jobs finish (Nest's shutdown hooks close workers, then queues, then pools), and the process exits 0.
 * Nest's own enableShutdownHooks would re-raise the signal instead, which reads as a crash to a
 * supervisor. Past `graceMs` the process exits 1 rather than hang a rolling deploy.
 */
export function closeOnSignals(app: INestApplication, graceMs = 25000): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    const timer = setTimeout(() => process.exit(1), graceMs);
    timer.unref();
    // Buffered spans go out before the exit (bounded; nothing to do with tracing off).
    app.close().then(() => shutdownTracing()).then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`shutdown after ${signal} failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
