/**
 * Second global guard: the rate limit, per API key (per client IP when the request carries no valid
 * key), shared through Redis by every replica.
 *
 * It extends @nestjs/throttler's guard but counts each request in ONE class (the route's), sets the
 * headers API.md names (`X-RateLimit-Reset` in unix seconds) and refuses with our error shape.
 */
import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerRequest, ThrottlerStorage } from '@nestjs/throttler';
import { ApiError, PUBLIC_ROUTE } from '@signet/service';
import type { Response } from 'express';
import { GatewayRequest, clientIp } from '../request-context';
import { rateLimited } from '../gateway-metrics';
import { RATE_LIMIT_CLASS, RateLimitClass } from './rate-limit.decorator';

/** Whom a request counts against: its API key, or its client IP without a valid one. */
export function trackerOf(req: GatewayRequest): string {
  const principal = req.principal;
  if (principal) return `key:${principal.apiKeyId ?? 'platform-admin'}`;
  return `ip:${clientIp(req) ?? 'unknown'}`;
}

/** Count one request in a class, set API.md's X-RateLimit-* headers, and return the 429 past the limit. */
export async function countRequest(
  storage: ThrottlerStorage, res: Response, tracker: string, className: string, limit: number, ttl: number,
): Promise<ApiError | null> {
  const { totalHits, timeToExpire } = await storage.increment(tracker, ttl, limit, ttl, className);
  res.setHeader('X-RateLimit-Limit', limit);
  res.setHeader('X-RateLimit-Remaining', Math.max(0, limit - totalHits));
  res.setHeader('X-RateLimit-Reset', Math.ceil(Date.now() / 1000) + timeToExpire);
  if (totalHits <= limit) return null;
  rateLimited.inc({ class: className });
  return new ApiError(
    'rate_limited',
    `rate limit of ${limit} requests per ${Math.round(ttl / 1000)} s exceeded`,
    { retryAfter: timeToExpire, limit, class: className },
    { 'Retry-After': String(timeToExpire) },
  );
}

@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  /** Ops endpoints (health probes, scrapes) are never limited. */
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()]) === true;
  }

  protected override async getTracker(req: GatewayRequest): Promise<string> {
    return trackerOf(req);
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const { context, limit, ttl, throttler, getTracker, generateKey } = props;
    const routeClass =
      this.reflector.getAllAndOverride<RateLimitClass | undefined>(RATE_LIMIT_CLASS, [context.getHandler(), context.getClass()]) ??
      'general';
    if (throttler.name !== routeClass) return true;

    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    // Keyed by tracker alone (not by route): the limit is per key and class, as API.md has it.
    const key = generateKey(context, await getTracker(req, context), throttler.name);
    const refusal = await countRequest(this.storageService, res, key, throttler.name, limit, ttl);
    if (refusal) throw refusal;
    return true;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }
}
