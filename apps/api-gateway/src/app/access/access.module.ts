/**
 * Authentication, rate limiting and authorization, in that order, as global guards on every route.
 */
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { RedisThrottlerStorage } from '../rate-limit/redis-throttler.storage';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { AccessGuard } from './access.guard';
import { ApiKeyStore } from './api-key-store';
import { AuthenticationGuard } from './authentication.guard';

@Global()
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [GATEWAY_CONFIG, REDIS],
      useFactory: (config: GatewayConfig, redis: Redis) => {
        const ttl = config.RATE_LIMIT_WINDOW_SECONDS * 1000;
        return {
          throttlers: [
            { name: 'general', limit: config.RATE_LIMIT_GENERAL, ttl },
            { name: 'issue', limit: config.RATE_LIMIT_ISSUE, ttl },
            { name: 'batch', limit: config.RATE_LIMIT_BATCH, ttl },
          ],
          storage: new RedisThrottlerStorage(redis, config.QUEUE_PREFIX),
        };
      },
    }),
  ],
  providers: [
    ApiKeyStore,
    // Order matters: who is calling, then the limit (counted per key or IP), then may they.
    { provide: APP_GUARD, useClass: AuthenticationGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  exports: [ApiKeyStore],
})
export class AccessModule {}
