import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig } from '@signet/service';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
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
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  });
}

export async function startGateway(overrides: Record<string, string> = {}): Promise<NestFastifyApplication> {
  const app = await createGateway(testGatewayConfig(overrides));
  await app.init();
  // supertest drives app.getHttpServer() without listen: Fastify must have loaded its routes first.
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

export { startSigner } from '@signet/testing';

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

/** Requests to `http` under `key`: `withKey(http, key).post(path, body)`. */
export const withKey = (http: Parameters<typeof request>[0], key: string) => ({
  get: (path: string) => request(http).get(path).set(bearer(key)),
  post: (path: string, body: unknown) => request(http).post(path).set(bearer(key)).send(body as object),
  patch: (path: string, body: unknown) => request(http).patch(path).set(bearer(key)).send(body as object),
  delete: (path: string) => request(http).delete(path).set(bearer(key)),
});

export const uniqueSlug = (base = 'org') => `${base}-${randomBytes(4).toString('hex')}`;

/** A new org through the platform API; returns it and its first admin key. */
export async function createOrg(app: NestFastifyApplication, name = 'Test Org'): Promise<{ org: { id: string; slug: string }; adminKey: string }> {
  const res = await request(app.getHttpServer())
    .post('/api/v1/platform/orgs')
    .set(bearer(TEST_ADMIN_KEY))
    .send({ name, slug: uniqueSlug() })
    .expect(201);
  return res.body;
}

export async function createKey(
  app: NestFastifyApplication,
  adminKey: string,
  body: Record<string, unknown>,
): Promise<{ apiKey: { id: string; prefix: string }; key: string }> {
  const res = await request(app.getHttpServer()).post('/api/v1/api-keys').set(bearer(adminKey)).send(body).expect(201);
  return res.body;
}

export const expectErrorShape = (body: Record<string, unknown>, code: string, status: number) => {
  expect(body).toEqual(expect.objectContaining({ error: expect.any(String), code, status, requestId: expect.any(String) }));
};

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `probe` until it answers something truthy, or fail naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * A temporary folder for a suite's openssl judgements: `openssl(...args)` runs there (ok, and stdout with
 * stderr), `file(name, data)` writes a file there and returns its name for openssl's arguments.
 */
export function opensslWorkspace(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  };
  const file = (name: string, data: string | Buffer) => {
    writeFileSync(join(dir, name), data);
    return name;
  };
  return { dir, openssl, file };
}
