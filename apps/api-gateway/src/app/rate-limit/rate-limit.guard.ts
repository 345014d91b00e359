/**
 * Second global guard: the rate limit, per API key (per client IP when the request carries no valid
 * key), shared through Redis by every replica.
 *
 * It extends @nestjs/throttler's guard (its module's throttlers and our Redis storage) but counts each request in ONE class (the route's), sets the
 * headers API.md names (`X-RateLimit-Reset` in unix seconds) and refuses with our error shape.
 */
import { ExecutionContext, Injectable } from '@nestjs/common';
import { Resolvable, ThrottlerGuard, ThrottlerStorage } from '@nestjs/throttler';
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

/** A throttler's limit or ttl: a number, or a function of the request (ThrottlerOptions allow both). */
const resolve = (value: Resolvable<number>, context: ExecutionContext): number | Promise<number> =>
  typeof value === 'function' ? value(context) : value;

@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  /**
   * Each route's class (null: a public route, never limited), per controller class and handler, read once:
   * ThrottlerGuard's own canActivate reads six metadata keys for each of the three throttlers and awaits
   * each value, on every request, to count it in one class.
   */
  private readonly routeClasses = new WeakMap<object, Map<object, RateLimitClass | null>>();

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const routeClass = this.routeClassOf(context);
    if (routeClass === null) return true;
    const throttler = this.throttlers.find((candidate) => candidate.name === routeClass);
    if (!throttler) return true;
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const [limit, ttl] = await Promise.all([resolve(throttler.limit, context), resolve(throttler.ttl, context)]);
    // Keyed by tracker alone (not by route): the limit is per key and class, as API.md has it.
    const refusal = await countRequest(this.storageService, res, trackerOf(req), routeClass, limit, ttl);
    if (refusal) throw refusal;
    return true;
  }

  private routeClassOf(context: ExecutionContext): RateLimitClass | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.routeClasses.get(controller);
    if (!byHandler) this.routeClasses.set(controller, (byHandler = new Map()));
    let routeClass = byHandler.get(handler);
    if (routeClass === undefined) {
      const targets = [handler, controller];
      // Ops endpoints (health probes, scrapes) are never limited; undecorated routes are `general`.
      routeClass = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) === true
        ? null
        : this.reflector.getAllAndOverride<RateLimitClass | undefined>(RATE_LIMIT_CLASS, targets) ?? 'general';
      byHandler.set(handler, routeClass);
    }
    return routeClass;
  }
}
