/**
 * Jest globalSetup for projects that talk to PostgreSQL and Redis: a database and Redis prefix of this
 * run's own, exported through process.env so the test workers (started after this) inherit them.
 */
import { DEFAULT_TEST_REDIS_URL, createTestDatabase, runId } from './lib/test-environment';

export default async function globalSetup(): Promise<void> {
  process.env.SIGNET_TEST_BASE_DATABASE_URL = process.env.DATABASE_URL || '';
  process.env.DATABASE_URL = await createTestDatabase();
  process.env.REDIS_URL = process.env.REDIS_URL || DEFAULT_TEST_REDIS_URL;
  process.env.QUEUE_PREFIX = `signet-test-${runId()}`;
}
