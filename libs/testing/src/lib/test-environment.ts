/**
 * Where tests find PostgreSQL and Redis, and how one run gets a database of its own.
 *
 * Each Jest run (one per Nx project) creates `signet_test_<random>`, migrates it, and drops it at the
 * end; its Redis keys live under a random prefix. Two runs on one machine, or a crashed run's leftovers,
 * can therefore never see each other's rows, queues or rate-limit counters.
 */
import { randomBytes } from 'node:crypto';
// A relative import on purpose: Jest loads globalSetup outside its moduleNameMapper, so the
// @signet/persistence alias does not resolve there.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { dropDatabase, ensureDatabaseExists, runMigrations } from '../../../persistence/src/index';

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/signet';
export const DEFAULT_TEST_REDIS_URL = 'redis://127.0.0.1:6379';

export const runId = (): string => randomBytes(5).toString('hex');

/** The same server as `baseUrl`, another database. */
export function databaseUrlFor(baseUrl: string, database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, migrated database for one test run. */
export async function createTestDatabase(baseUrl = process.env.DATABASE_URL || DEFAULT_TEST_DATABASE_URL): Promise<string> {
  const url = databaseUrlFor(baseUrl, `signet_test_${runId()}`);
  await ensureDatabaseExists(url);
  await runMigrations(url);
  return url;
}

export async function dropTestDatabase(url: string): Promise<void> {
  await dropDatabase(url);
}

/** Delete every Redis key under a test run's prefix. */
export async function clearRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
