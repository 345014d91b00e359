/**
 * One shared ioredis connection per process, closed on shutdown.
 * `maxRetriesPerRequest: null` because BullMQ requires it of connections it is given.
 */
import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';

export const REDIS = 'SIGNET_REDIS';

export function createRedis(url: string, name: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, connectionName: name, enableReadyCheck: true });
  // ioredis reconnects by itself; without a listener every failed attempt is an "unhandled error"
  // line. Readiness reports the outage instead.
  redis.on('error', () => undefined);
  return redis;
}

/** quit() waits for a server that may never answer; a connection that is not up is just dropped. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}

@Global()
@Module({})
export class RedisModule {
  static forRoot(url: string, name: string): DynamicModule {
    return {
      module: RedisModule,
      providers: [{ provide: REDIS, useFactory: () => createRedis(url, name) }, RedisCloser],
      exports: [REDIS],
    };
  }
}
