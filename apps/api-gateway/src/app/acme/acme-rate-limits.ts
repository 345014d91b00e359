/**
 * New-order rate limits of the ACME server, per account and per client IP, in fixed hourly windows in
 * Redis (shared by every gateway replica). Past either: `rateLimited` with Retry-After.
 */
import { Inject, Injectable } from '@nestjs/common';
import { REDIS } from '@signet/service';
import type { Redis } from 'ioredis';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { AcmeProblem } from './acme-problem';

const WINDOW_SECONDS = 3600;

@Injectable()
export class AcmeRateLimits {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async newOrder(accountId: string, ip: string): Promise<void> {
    const window = Math.floor(Date.now() / 1000 / WINDOW_SECONDS);
    const retryAfter = String((window + 1) * WINDOW_SECONDS - Math.floor(Date.now() / 1000));
    const prefix = `${this.config.QUEUE_PREFIX}:acme:orders:${window}`;
    const [[, perAccount], , [, perIp]] = (await this.redis.multi()
      .incr(`${prefix}:account:${accountId}`).expire(`${prefix}:account:${accountId}`, WINDOW_SECONDS)
      .incr(`${prefix}:ip:${ip}`).expire(`${prefix}:ip:${ip}`, WINDOW_SECONDS)
      .exec()) as [Error | null, number][];
    if (perAccount > this.config.ACME_ORDERS_PER_ACCOUNT_PER_HOUR) {
      throw new AcmeProblem('rateLimited', `at most ${this.config.ACME_ORDERS_PER_ACCOUNT_PER_HOUR} new orders per account per hour`, { headers: { 'Retry-After': retryAfter } });
    }
    if (perIp > this.config.ACME_ORDERS_PER_IP_PER_HOUR) {
      throw new AcmeProblem('rateLimited', `at most ${this.config.ACME_ORDERS_PER_IP_PER_HOUR} new orders per client address per hour`, { headers: { 'Retry-After': retryAfter } });
    }
  }
}
