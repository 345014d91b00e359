/**
 * Second global guard: the rate limit, per API key (per client IP when the request carries no valid
 * key), shared through Redis by every replica.
 *
 * It extends @nestjs/throttler's guard but counts each request in ONE class (the route's), sets the
 * headers API.md names (`X-RateLimit-Reset` in unix seconds) and refuses with our error shape.
 */
import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerRequest } from '@nestjs/throttler';
import { ApiError, PUBLIC_ROUTE } from '@signet/service';
import type { Response } from 'express';
import type { GatewayRequest } from '../request-context';
import { RATE_LIMIT_CLASS, RateLimitClass } from './rate-limit.decorator';

@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  /** Ops endpoints (health probes, scrapes) are never limited. */
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()]) === true;
  }

  protected override async getTracker(req: GatewayRequest): Promise<string> {
    const principal = req.principal;
    if (principal) return `key:${principal.apiKeyId ?? 'platform-admin'}`;
    return `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const { context, limit, ttl, throttler, getTracker, generateKey } = props;
    const routeClass =
      this.reflector.getAllAndOverride<RateLimitClass | undefined>(RATE_LIMIT_CLASS, [context.getHandler(), context.getClass()]) ??
      'general';
    if (throttler.name !== routeClass) return true;

    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const tracker = await getTracker(req, context);
    // Keyed by tracker alone (not by route): the limit is per key and class, as API.md has it.
    const key = generateKey(context, tracker, throttler.name);
    const { totalHits, timeToExpire } = await this.storageService.increment(key, ttl, limit, ttl, throttler.name);
    const reset = Math.ceil(Date.now() / 1000) + timeToExpire;
    res.setHeader('X-RateLimit-Limit', limit);
    res.setHeader('X-RateLimit-Remaining', Math.max(0, limit - totalHits));
    res.setHeader('X-RateLimit-Reset', reset);
    if (totalHits > limit) {
      throw new ApiError(
        'rate_limited',
        `rate limit of ${limit} requests per ${Math.round(ttl / 1000)} s exceeded`,
        { retryAfter: timeToExpire, limit, class: throttler.name },
        { 'Retry-After': String(timeToExpire) },
      );
    }
    return true;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }
}
