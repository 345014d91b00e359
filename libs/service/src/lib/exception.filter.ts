/**
 * Global exception filter: every failure leaves in the API.md error shape.
 *
 * body-parser's errors are recognised by their `type` (it throws plain errors with a status), so a
 * malformed JSON body is 400 bad_request and an oversized one is 413 payload_too_large, not 500.
 * A store outage (PostgreSQL or Redis unreachable: store-errors.ts) is 503 `service_unavailable` with
 * `retryable: true`. Anything unexpected is logged in full and answered as a bare 500 `internal`: no
 * stack, no SQL, no key material ever reaches the client.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError, ErrorBody, codeForStatus } from './errors';
import { isStoreUnavailable, storeUnavailable } from './store-errors';

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

const BODY_PARSER_ERRORS: Record<string, (e: BodyParserError) => ApiError> = {
  'entity.too.large': (e) =>
    new ApiError('payload_too_large', 'request body is too large', e.limit ? { limitBytes: e.limit } : undefined),
  'entity.parse.failed': () => new ApiError('bad_request', 'request body is not valid JSON'),
  'encoding.unsupported': () => new ApiError('unsupported_media_type', 'unsupported content encoding'),
  'charset.unsupported': () => new ApiError('unsupported_media_type', 'unsupported charset'),
  'request.aborted': () => new ApiError('bad_request', 'request aborted'),
  'request.size.invalid': () => new ApiError('bad_request', 'request size did not match content length'),
};

/** Translate anything thrown into an ApiError; returns null for the truly unexpected. */
export function toApiError(exception: unknown): ApiError | null {
  if (exception instanceof ApiError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown }).message)
          ? ((response as { message: string[] }).message).join('; ')
          : String((response as { message?: unknown }).message ?? exception.message);
    const code = codeForStatus(status);
    if (status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/.test(message)) {
      return new ApiError('not_found', 'route not found');
    }
    const error = new ApiError(code, message);
    (error as { status: number }).status = status;
    return error;
  }
  const bodyParser = exception as BodyParserError;
  if (bodyParser && typeof bodyParser.type === 'string' && BODY_PARSER_ERRORS[bodyParser.type]) {
    return BODY_PARSER_ERRORS[bodyParser.type](bodyParser);
  }
  // Other client errors from reading the body (a corrupt gzip/br body: zlib's error with status 400 and
  // expose set by body-parser) keep their status; their text is the decoder's, so a fixed one is sent.
  if (bodyParser?.expose === true && typeof bodyParser.status === 'number' && bodyParser.status >= 400 && bodyParser.status < 500) {
    const error = new ApiError(codeForStatus(bodyParser.status), 'the request body could not be read');
    (error as { status: number }).status = bodyParser.status;
    return error;
  }
  // PostgreSQL or Redis unreachable, or gone mid-request: an outage to wait out, not a server bug.
  if (isStoreUnavailable(exception)) return storeUnavailable();
  return null;
}

export function requestIdOf(req: Request): string | undefined {
  return (req as Request & { id?: string }).id?.toString();
}

/**
 * Runs before an error is sent; may answer with another error instead (the gateway counts requests its
 * guards never saw against the rate limit and turns them into 429 past it).
 */
export type BeforeErrorResponse = (req: Request, res: Response, error: ApiError) => Promise<ApiError | null>;

/**
 * Sends an error in another shape when the request is one it speaks for (the gateway's ACME routes
 * answer RFC 7807 problem documents, even for a body the JSON parser refused); false: the API shape.
 */
export type ErrorRenderer = (req: Request, res: Response, error: ApiError) => boolean;

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiExceptionFilter');

  constructor(
    private readonly beforeSend?: BeforeErrorResponse,
    private readonly render?: ErrorRenderer,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    let error = toApiError(exception);
    if (!error) {
      this.logger.error({ err: exception, path: req.path }, 'unhandled error')
      error = new ApiError('internal', 'internal server error');
    }
    if (res.headersSent) return;
    if (!this.beforeSend) return this.send(req, res, error);
    const original = error;
    this.beforeSend(req, res, original).then(
      (replaced) => this.send(req, res, replaced ?? original),
      (err: Error) => {
        this.logger.warn({ err: err.message, path: req.path }, 'before-error hook failed');
        this.send(req, res, original);
      },
    );
  }

  private send(req: Request, res: Response, error: ApiError): void {
    if (res.headersSent) return;
    if (this.render?.(req, res, error)) return;
    const body: ErrorBody = { error: error.message, code: error.code, status: error.status };
    if (error.details) body.details = error.details;
    if (error.code === 'rate_limited' && error.details?.retryAfter !== undefined) body.retryAfter = Number(error.details.retryAfter);
    body.requestId = requestIdOf(req);
    for (const [name, value] of Object.entries(error.headers ?? {})) res.setHeader(name, value);
    // Surface the error to the request logger and the audit interceptor without re-throwing.
    (res.locals as Record<string, unknown>).apiError = error;
    res.status(error.status).json(body);
  }
}
