/**
 * API key lookup without a database round trip per request.
 *
 * Rows are cached per keyId in process memory. A revocation publishes the keyId on a Redis channel and
 * every gateway replica drops it at once; if the subscription is ever broken (Redis restart), the
 * whole cache is dropped on reconnect, and every entry also expires after CACHE_TTL_MS, so a missed
 * message cannot keep a revoked key alive for long. Expiry (`expiresAt`) is checked on every request.
 */
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AgentRow, ApiKeyEntity, agentByKeyId, apiKeyByKeyId } from '@signet/persistence';
import { REDIS, closeRedis, createRedis } from '@signet/service';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';

export const CACHE_TTL_MS = 30_000;
const MAX_ENTRIES = 50_000;

interface CacheEntry {
  row: ApiKeyEntity | null;
  loadedAt: number;
}

@Injectable()
export class ApiKeyStore implements OnModuleInit, OnApplicationShutdown {
  private readonly cache = new Map<string, CacheEntry>();
  private subscriber: Redis | null = null;
  private readonly channel: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.channel = `${config.QUEUE_PREFIX}:api-keys:revoked`;
  }

  onModuleInit(): void {
    const subscriber = createRedis(this.config.REDIS_URL, 'signet-gateway-keys');
    subscriber.on('message', (_channel: string, keyId: string) => this.cache.delete(keyId));
    // After any reconnect we may have missed revocations: forget everything.
    subscriber.on('ready', () => this.cache.clear());
    this.subscriber = subscriber;
    // Not awaited: with Redis down the gateway still starts (and reports not ready); ioredis
    // subscribes once it connects and re-subscribes after every reconnect.
    subscriber.subscribe(this.channel).catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.subscriber) await closeRedis(this.subscriber);
  }

  /** The key row for `keyId`, or null when there is none. Revoked and expired rows are returned as is. */
  async find(keyId: string): Promise<ApiKeyEntity | null> {
    const hit = this.cache.get(keyId);
    if (hit && Date.now() - hit.loadedAt < CACHE_TTL_MS) return hit.row;
    const row = await apiKeyByKeyId(this.dataSource.manager, keyId);
    // Bounded: a flood of made-up key ids must not grow memory without limit.
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(keyId, { row, loadedAt: Date.now() });
    return row;
  }

  /**
   * The agent whose key has this id, or null. Not cached: agents call a few times a minute, and a
   * deleted agent's key must stop working at once on every replica.
   */
  findAgent(keyId: string): Promise<AgentRow | null> {
    return agentByKeyId(this.dataSource.manager, keyId);
  }

  /** Tell every replica (this one included) to drop its cached copy of `keyId`. */
  async invalidate(keyId: string): Promise<void> {
    this.cache.delete(keyId);
    await this.redis.publish(this.channel, keyId);
  }
}
