/**
 * Every failure of an /acme route as an RFC 7807 problem document with its ACME error type, a fresh
 * Replay-Nonce (RFC 8555 6.5: a client answered `badNonce` retries with it) and the directory link.
 * Failures from the rest of the gateway (a store away, the signer's refusals) are translated; anything
 * unexpected is logged and sent as `serverInternal` without its text.
 */
import { ArgumentsHost, Catch, ExceptionFilter, Injectable, Logger } from '@nestjs/common';
import { ErrorRenderer, toApiError } from '@signet/service';
import type { Request, Response } from 'express';
import { AcmeErrorType, AcmeProblem } from './acme-problem';
import { NonceStore } from './nonces';

const FROM_API_CODE: Record<string, AcmeErrorType> = {
  bad_request: 'malformed', validation_failed: 'malformed', unauthorized: 'unauthorized', forbidden: 'unauthorized',
  not_found: 'malformed', conflict: 'malformed', already_revoked: 'alreadyRevoked', policy_violation: 'rejectedIdentifier',
  payload_too_large: 'malformed', unsupported_media_type: 'malformed', rate_limited: 'rateLimited',
};

export function problemOf(exception: unknown, logger: Logger, path: string): AcmeProblem {
  if (exception instanceof AcmeProblem) return exception;
  const api = toApiError(exception);
  if (!api) {
    logger.error({ err: exception, path }, 'unhandled ACME error');
    return new AcmeProblem('serverInternal', 'internal server error');
  }
  const type = FROM_API_CODE[api.code] ?? 'serverInternal';
  return new AcmeProblem(type, api.message, { status: api.status, headers: api.headers });
}

/** Whether a path is one of the ACME server's (its errors are problem documents). */
export const isAcmePath = (path: string) => path.startsWith('/acme/');

/** Send `problem` with a fresh nonce, no caching, and the directory's Link. */
export async function sendProblem(req: Request, res: Response, problem: AcmeProblem, nonces: NonceStore): Promise<void> {
  const nonce = await nonces.issue().catch(() => null);
  if (res.headersSent) return;
  if (nonce) res.setHeader('Replay-Nonce', nonce);
  res.setHeader('Cache-Control', 'no-store');
  const directory = /^(\/acme\/[^/]+\/[^/]+)\//.exec(req.path)?.[1];
  if (directory) res.setHeader('Link', `<${directory}/directory>;rel="index"`);
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  (res.locals as Record<string, unknown>).acmeProblem = problem.type;
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.document()));
}

/**
 * For the gateway's global filter: errors raised before an ACME route runs (a body the JSON parser
 * refused, a body too large) leave as problem documents too.
 */
export function acmeErrorRenderer(nonces: NonceStore, logger = new Logger('AcmeProblem')): ErrorRenderer {
  return (req, res, error) => {
    if (!isAcmePath(req.path)) return false;
    void sendProblem(req, res, problemOf(error, logger, req.path), nonces);
    return true;
  };
}

@Catch()
@Injectable()
export class AcmeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('AcmeProblem');

  constructor(private readonly nonces: NonceStore) {}

  async catch(exception: unknown, host: ArgumentsHost): Promise<void> {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    const problem = problemOf(exception, this.logger, req.path);
    if (res.headersSent) return;
    await sendProblem(req, res, problem, this.nonces);
  }
}
