import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '@signet/service';
import { createGateway } from '../src/app/gateway';
import { GatewayConfig } from '../src/app/gateway.config';

export const TEST_ADMIN_KEY = 'test-platform-admin-key-0123456789abcdef';

/** A gateway config for tests: the per-run database and Redis prefix from the Jest global setup. */
export function testGatewayConfig(overrides: Record<string, string> = {}): GatewayConfig {
  return loadConfig(GatewayConfig, {
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: process.env.QUEUE_PREFIX ?? 'signet-test',
    PLATFORM_ADMIN_KEY: TEST_ADMIN_KEY,
    LOG_LEVEL: 'silent',
    ...overrides,
  });
}

export async function startGateway(overrides: Record<string, string> = {}): Promise<NestExpressApplication> {
  const app = await createGateway(testGatewayConfig(overrides));
  await app.init();
  return app;
}
