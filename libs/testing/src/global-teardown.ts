import { clearRedisPrefix, dropTestDatabase } from './lib/test-environment';

/** Drop this run's database and Redis keys; a failure here must not hide the test results. */
export default async function globalTeardown(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url && /\/signet_test_[0-9a-f]+$/.test(new URL(url).pathname)) {
    await dropTestDatabase(url).catch((error: Error) => console.warn(`could not drop ${url}: ${error.message}`));
  }
  const prefix = process.env.QUEUE_PREFIX;
  if (prefix?.startsWith('signet-test-')) {
    await clearRedisPrefix(process.env.REDIS_URL as string, prefix).catch(() => undefined);
  }
}
