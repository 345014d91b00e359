import { spawnSync } from 'node:child_process';
import { expectOpsEndpoints, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const MAIN = join(__dirname, '../../../dist/apps/api-gateway/src/main.js');

describe('gateway start-up (built process)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  });

  it('exits non-zero with one clear line when DATABASE_URL is nonsense', () => {
    const result = spawnSync(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'nonsense', PLATFORM_ADMIN_KEY: 'y'.repeat(40) },
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(result.status).not.toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/DATABASE_URL must be a postgres:\/\/ URL/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('refuses to start without PLATFORM_ADMIN_KEY', () => {
    const result = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20000 });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim()).toMatch(/^signet api-gateway: invalid configuration: PLATFORM_ADMIN_KEY is required/);
  });
});

describe('gateway logs', () => {
  it('are JSON lines with the request id, and never carry the bearer key', async () => {
    const port = await freePort();
    const adminKey = `log-test-admin-${'k'.repeat(32)}`;
    const gateway = spawnService('api-gateway', { ...testServiceEnv(), LOG_LEVEL: 'info', PORT: String(port), HTTPS_PORT: String(await freePort()), PLATFORM_ADMIN_KEY: adminKey });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, gateway);
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/whoami`, {
        headers: { Authorization: `Bearer ${adminKey}`, 'X-Request-Id': 'log-trace-1' },
      });
      expect(res.status).toBe(200);
      await fetch(`http://127.0.0.1:${port}/api/v1/whoami`, { headers: { Authorization: 'Bearer sgn_0123456789abcdef_' + 'S'.repeat(43) } });
    } finally {
      expect(await stopService(gateway)).toBe(0);
    }
    const lines = gateway.output().trim().split('\n').filter((l) => l.startsWith('{'));
    const access = lines.map((l) => JSON.parse(l)).find((entry) => entry.req?.id === 'log-trace-1');
    expect(access).toMatchObject({ name: 'api-gateway', req: { method: 'GET', url: '/api/v1/whoami' }, res: { statusCode: 200 } });
    expect(gateway.output()).not.toContain(adminKey);
    expect(gateway.output()).not.toContain('S'.repeat(43));
  });
});

describe('gateway process', () => {
  it('serves the ops endpoints, does not read MASTER_KEY, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const gateway = spawnService('api-gateway', {
      ...testServiceEnv(),
      PORT: String(port),
      HTTPS_PORT: String(await freePort()),
      PLATFORM_ADMIN_KEY: 'z'.repeat(40),
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, gateway);
      await expectOpsEndpoints(`http://127.0.0.1:${port}`);
    } finally {
      expect(await stopService(gateway)).toBe(0);
    }
  });
});
