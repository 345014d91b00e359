/**
 * @nestjs/throttler storage on Redis, so every gateway replica counts against the same numbers.
 *
 * A fixed window per key: one atomic script does INCR, sets the expiry on the first hit and reads the
 * time left, so racing replicas can neither lose a hit nor leave a counter without expiry. One round
 * trip per request.
 */
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}`;

type RedisWithIncrement = Redis & {
  signetRateLimitIncrement(key: string, ttlMs: number): Promise<[number, number]>;
};

export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly redis: RedisWithIncrement;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    // defineCommand sends EVALSHA and falls back to EVAL once, so the script travels only once.
    if (!('signetRateLimitIncrement' in redis)) redis.defineCommand('signetRateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT });
    this.redis = redis as RedisWithIncrement;
  }

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const [totalHits, ttlMs] = await this.redis.signetRateLimitIncrement(`${this.prefix}:rl:${throttlerName}:${key}`, ttl);
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const isBlocked = totalHits > limit;
    return { totalHits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}
