/**
 * Requests the guards never see still count: an unmatched route's 404, and bodies refused before routing
 * (bad JSON, 413, 415). API.md puts X-RateLimit-* on every response, and without this a flood of refused
 * bodies would pass the limiter. Such a request is counted in the general class of its caller (its key,
 * or its IP without a valid one) just before its error is sent, and answered 429 past the limit. The
 * public /pki endpoints and the ops endpoints are never limited.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BeforeErrorResponse, REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { ApiKeyStore } from '../access/api-key-store';
import { identifyCaller } from '../access/authentication.guard';
import type { GatewayConfig } from '../gateway.config';
import type { GatewayRequest } from '../request-context';
import { countRequest, trackerOf } from './rate-limit.guard';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const NEVER_LIMITED = /^\/(healthz|readyz|metrics)$|^\/pki\//;

export function limitUnguardedRequests(app: NestFastifyApplication, config: GatewayConfig): BeforeErrorResponse {
  // The same counters as the guard's storage: same Redis, same prefix, same keys.
  const storage = new RedisThrottlerStorage(app.get<Redis>(REDIS), config.QUEUE_PREFIX);
  const keys = app.get(ApiKeyStore);
  const ttl = config.RATE_LIMIT_WINDOW_SECONDS * 1000;
  return async (request, res) => {
    const req = request as unknown as GatewayRequest;
    if (res.getHeader('X-RateLimit-Limit') !== undefined || NEVER_LIMITED.test(req.path)) return null;
    if (!req.principal && !req.authFailure) await identifyCaller(req, keys, config.PLATFORM_ADMIN_KEY);
    return countRequest(storage, res, trackerOf(req), 'general', config.RATE_LIMIT_GENERAL, ttl);
  };
}
