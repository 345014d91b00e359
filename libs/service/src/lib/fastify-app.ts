/**
 * The gateway's HTTP app on NestJS's Fastify adapter (issue 17: a lean request path; README, DESIGN).
 * It keeps what createHttpApp (Express, still used by the signer's and enroll's health apps) does:
 * request ids first, request metrics, JSON bodies only (415 before reading another type), the body
 * limit (413 in the API shape with limitBytes), malformed JSON (400), gzip/deflate/br bodies, the depth
 * bound, the API error shape through ApiExceptionFilter (Nest routes Fastify's own errors, hooks' and
 * the body parser's too, through the global filters), validation, parser refusals (431, bad HTTP).
 *
 * Handlers, guards and filters shared with the Express apps use a small part of Express's response API
 * (setHeader, set, json, end, locals, headersSent) and req.path: the reply and request get exactly
 * those here (decorateExpressCompatible), so one filter and one health controller serve both platforms.
 */
import type { DynamicModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Logger, PARAMS_PROVIDER_TOKEN, Params } from 'nestjs-pino';
import { ApiError } from './errors';
import { ApiExceptionFilter, BeforeErrorResponse, ErrorRenderer } from './exception.filter';
import { attachLazyRequestLogger, lazyLoggerRoot, requestIdFor } from './logging';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './request-text';
import { httpRequestDuration, httpRequestsTotal, initMetrics } from './metrics';
import { createValidationPipe } from './validation';
import { writeParserError } from './parser-errors';

export interface FastifyAppOptions {
  app: string;
  /** Max JSON body size in bytes (after decoding a compressed body). */
  bodyLimitBytes?: number;
  /** Which hops' X-Forwarded-For counts for req.ip. Default: loopback. */
  trustProxy?: string | ((address: string, hop: number) => boolean);
  /** onRequest hooks that must see every request before its body is read (so refused bodies too). */
  earlyHooks?: (app: NestFastifyApplication) => OnRequestHook[];
  /** Called with every error before it is sent (see BeforeErrorResponse). */
  beforeErrorResponse?: (app: NestFastifyApplication) => BeforeErrorResponse;
  /** Sends some requests' errors in their own shape (see ErrorRenderer). */
  errorRenderer?: (app: NestFastifyApplication) => ErrorRenderer;
  /** Extra set-up (swagger, the /pki fast path, ...) before init. */
  configure?: (app: NestFastifyApplication) => void | Promise<void>;
}

export type OnRequestHook = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** A JSON media type: application/json or any structured-syntax `+json` type. */
const isJsonType = (contentType: string | undefined): boolean => {
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
};

/** The few parts of Express's API the shared handlers, guards and filters use, on Fastify's objects. */
export function decorateExpressCompatible(fastify: FastifyInstance): void {
  fastify.decorateRequest('path', {
    getter(this: FastifyRequest) {
      const q = this.url.indexOf('?');
      return q === -1 ? this.url : this.url.slice(0, q);
    },
  });
  fastify.decorateReply('locals', null);
  fastify.decorateReply('headersSent', {
    getter(this: FastifyReply) {
      return this.sent || this.raw.headersSent;
    },
  });
  fastify.decorateReply('setHeader', function (this: FastifyReply, name: string, value: unknown) {
    return this.header(name, value);
  });
  fastify.decorateReply('set', function (this: FastifyReply, name: string | Record<string, unknown>, value?: unknown) {
    return typeof name === 'string' ? this.header(name, value) : this.headers(name as Record<string, string>);
  });
  fastify.decorateReply('json', function (this: FastifyReply, body: unknown) {
    // As Express: a Content-Type already set (application/problem+json, ...) stays.
    if (this.getHeader('content-type') === undefined) this.type('application/json; charset=utf-8');
    return this.send(JSON.stringify(body));
  });
  fastify.decorateReply('end', function (this: FastifyReply, chunk?: string | Buffer) {
    return this.send(chunk);
  });
}

/**
 * First of all: every response, even a refused body, carries the request id; below `info` the request
 * also gets its lazy logger (loggerModule says why). The raw request carries both for nestjs-pino.
 */
function requestIdStep(app: NestFastifyApplication): (req: FastifyRequest, reply: FastifyReply) => void {
  const root = lazyLoggerRoot(app.get<Params>(PARAMS_PROVIDER_TOKEN, { strict: false }));
  return (req, reply) => {
    const raw = req.raw as IncomingMessage & { id?: string };
    raw.id = raw.id ?? requestIdFor(raw, reply.raw);
    (req as { id: string }).id = raw.id;
    (reply as unknown as { locals: Record<string, unknown> }).locals = {};
    attachLazyRequestLogger(root, raw);
  };
}

const STARTED = Symbol('signet:metrics-timer');

/** Duration and count by method, matched route pattern (not the URL: ids would explode cardinality) and status. */
function startTimer(req: FastifyRequest): void {
  (req as unknown as Record<symbol, unknown>)[STARTED] = httpRequestDuration.startTimer();
}

function requestMetrics(fastify: FastifyInstance): void {
  fastify.addHook('onResponse', (req, reply, done) => {
    const end = (req as unknown as Record<symbol, ((labels: Record<string, string>) => void) | undefined>)[STARTED];
    const pattern = req.is404 ? undefined : req.routeOptions?.url;
    const route = (req as { metricsRoute?: string }).metricsRoute ?? pattern ?? (reply.statusCode === 404 ? 'unmatched' : 'other');
    const labels = { method: req.method, route, status: String(reply.statusCode) };
    end?.(labels);
    httpRequestsTotal.inc(labels);
    done();
  });
}

/**
 * Every API body is JSON (API.md): a body of another type, or of none, is refused with 415 before it is
 * read. A request without a body (a POST with no content) passes whatever its Content-Type.
 */
function jsonBodiesOnly(req: FastifyRequest): ApiError | null {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || isJsonType(req.headers['content-type'])) return null;
  return new ApiError('unsupported_media_type', `request bodies are JSON: send Content-Type: application/json (got ${JSON.stringify((req.headers['content-type'] ?? 'none').slice(0, 100))})`);
}

const tooLarge = (limit: number) => new ApiError('payload_too_large', 'request body is too large', { limitBytes: limit });
const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };

/**
 * The JSON body reader, as body-parser read it under Express: utf-8 only, compressed bodies decoded,
 * the limit on the decoded size, strict JSON (an object or array), the depth bound before anything
 * walks it; each refusal an ApiError in the API's shape.
 */
function jsonBodyReader(limit: number) {
  return (req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void): void => {
    let finished = false;
    const finish = (err: Error | null, body?: unknown) => {
      if (finished) return;
      finished = true;
      done(err, body);
    };
    const charset = /;\s*charset=([^;]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset && !charset.startsWith('utf-')) return finish(new ApiError('unsupported_media_type', 'unsupported charset'));
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    let stream: NodeJS.ReadableStream = payload;
    if (encoding !== 'identity') {
      const decoder = DECODERS[encoding];
      if (!decoder) return finish(new ApiError('unsupported_media_type', 'unsupported content encoding'));
      const inflate = decoder();
      inflate.on('error', () => {
        const error = new ApiError('bad_request', 'the request body could not be read');
        finish(error);
      });
      stream = payload.pipe(inflate);
    } else if (declared !== null && declared > limit) {
      payload.resume();
      return finish(tooLarge(limit));
    }
    const chunks: Buffer[] = [];
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      if (finished) return;
      received += chunk.length;
      if (received > limit) {
        finish(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    payload.on('aborted', () => finish(new ApiError('bad_request', 'request aborted')));
    payload.on('error', () => finish(new ApiError('bad_request', 'request aborted')));
    stream.on('end', () => {
      if (finished) return;
      if (encoding === 'identity' && declared !== null && received !== declared) {
        return finish(new ApiError('bad_request', 'request size did not match content length'));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      // body-parser's answer to an empty JSON body (a common client mistake): an empty object.
      if (text.length === 0) return finish(null, {});
      // body-parser's strict mode: a JSON body is an object or an array.
      const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(text)?.[1];
      let body: unknown;
      try {
        if (first !== '{' && first !== '[') throw new SyntaxError('not an object or array');
        body = JSON.parse(text);
      } catch {
        return finish(new ApiError('bad_request', 'request body is not valid JSON'));
      }
      if (nestsDeeperThan(body, MAX_JSON_DEPTH)) return finish(new ApiError('bad_request', `request body nests deeper than ${MAX_JSON_DEPTH} levels`));
      finish(null, body);
    });
  };
}

export async function createFastifyApp(module: Type<unknown> | DynamicModule, options: FastifyAppOptions): Promise<NestFastifyApplication> {
  initMetrics(options.app);
  const limit = options.bodyLimitBytes ?? 1024 * 1024;
  let filter: ApiExceptionFilter | undefined;
  const adapter = new FastifyAdapter({
    trustProxy: options.trustProxy ?? 'loopback',
    // The reader below enforces the limit on the decoded body; Fastify's own bound only stops runaways.
    bodyLimit: Math.max(limit * 64, 64 * 1024 * 1024),
    // As Express matched: a trailing slash is the same route; a long parameter is the handler's to refuse.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 8192 },
    // Requests Node's parser refuses (431, malformed HTTP) get the API's error shape.
    clientErrorHandler: (error, socket) => writeParserError(socket, error as Error & { code?: string }),
    // Node's own request timeout (408 in the API shape through clientErrorHandler), as under Express.
    requestTimeout: 300_000,
    // A URL Fastify cannot route (bad percent-encoding) is 400 in the API's shape, as Express's URIError was.
    frameworkErrors: (error: Error & { code?: string }, req: FastifyRequest, reply: FastifyReply) => {
      const raw = req.raw as IncomingMessage & { id?: string };
      raw.id = raw.id ?? requestIdFor(raw, reply.raw);
      (req as { id: string }).id = raw.id;
      (reply as unknown as { locals: Record<string, unknown> }).locals = {};
      const refusal = new ApiError('bad_request', error.code === 'FST_ERR_BAD_URL' ? 'the request URL is not valid' : 'the request could not be routed');
      filter?.catch(refusal, new ExecutionContextHost([req, reply]));
    },
  });
  const fastify = adapter.getInstance() as unknown as FastifyInstance;
  decorateExpressCompatible(fastify);
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', jsonBodyReader(limit));
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  // Ahead of Nest's middleware (nestjs-pino's, through middie): the adapter's own first onRequest hook.
  const assignRequestId = requestIdStep(app);
  const early = options.earlyHooks?.(app) ?? [];
  adapter.setOnRequestHook((req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    assignRequestId(req, reply);
    startTimer(req);
    if (!early.length) return done(jsonBodiesOnly(req) ?? undefined);
    void (async () => {
      for (const hook of early) {
        await hook(req, reply);
        // Answered (the console's files): nothing else runs.
        if (reply.sent) return;
      }
      done(jsonBodiesOnly(req) ?? undefined);
    })().catch((err: Error) => done(err));
  });
  requestMetrics(fastify);
  filter = new ApiExceptionFilter(options.beforeErrorResponse?.(app), options.errorRenderer?.(app));
  app.useGlobalFilters(filter);
  app.useGlobalPipes(createValidationPipe());
  await options.configure?.(app);
  return app;
}
