#!/usr/bin/env node
/**
 * Authenticated `GET /api/v1/whoami` throughput and latency, through the real built gateway process
 * (PostgreSQL + Redis), loaded by autocannon from this same machine.
 *
 *   npm run build && node bench/whoami.js [--connections 64] [--seconds 15] [--log-level info] [--workers 1] [--cpu-prof DIR]
 *       [--main FILE]   # another entry point than dist/apps/api-gateway/src/main.js (bench/proto/fastify-gateway.js)
 *
 * Uses DATABASE_URL's server with its own database `signet_bench` (created and migrated here).
 */
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const autocannon = require('autocannon');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = path.join(__dirname, '..');
const baseUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet');
baseUrl.pathname = '/signet_bench';
const env = {
  PATH: process.env.PATH,
  DATABASE_URL: baseUrl.toString(),
  REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  QUEUE_PREFIX: `signet-bench-${randomBytes(3).toString('hex')}`,
  PLATFORM_ADMIN_KEY: `bench-admin-${randomBytes(24).toString('hex')}`,
  PORT: arg('port', '3900'),
  LOG_LEVEL: arg('log-level', 'info'),
  RATE_LIMIT_GENERAL: '10000000',
  GATEWAY_WORKERS: arg('workers', '1'),
  ...(process.env.NODE_PATH ? { NODE_PATH: process.env.NODE_PATH } : {}),
};
const url = `http://127.0.0.1:${env.PORT}`;

async function waitForHealth() {
  for (let i = 0; i < 200; i++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('gateway did not start');
}

async function main() {
  const cli = path.join(root, 'dist/libs/persistence/src/cli.js');
  execFileSync(process.execPath, [cli, 'create-db'], { env, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'run'], { env, stdio: 'ignore' });
  // --cpu-prof DIR: write a V8 CPU profile of the gateway there, to see where the time goes.
  const profile = arg('cpu-prof') ? ['--cpu-prof', '--cpu-prof-dir', arg('cpu-prof')] : [];
  const gateway = spawn(process.execPath, [...profile, path.resolve(arg('main', path.join(root, 'dist/apps/api-gateway/src/main.js')))], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForHealth();
    const created = await fetch(`${url}/api/v1/platform/orgs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${env.PLATFORM_ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Bench', slug: `bench-${randomBytes(4).toString('hex')}` }),
    }).then((r) => r.json());
    const opts = {
      url: `${url}/api/v1/whoami`,
      headers: { Authorization: `Bearer ${created.adminKey}` },
      connections: Number(arg('connections', '64')),
      duration: Number(arg('seconds', '15')),
    };
    await autocannon({ ...opts, duration: 3 }); // warm-up: JIT, caches, connection pools
    const result = await autocannon(opts);
    const errors = result.errors + result.timeouts + result.non2xx;
    console.log(`whoami  connections=${opts.connections} duration=${opts.duration}s log=${env.LOG_LEVEL} workers=${env.GATEWAY_WORKERS}`);
    console.log(`  requests/s  mean ${result.requests.average.toFixed(0)}  (total ${result.requests.total}, errors ${errors})`);
    console.log(`  latency ms  p50 ${result.latency.p50}  p90 ${result.latency.p90}  p99 ${result.latency.p99}  max ${result.latency.max}`);
  } finally {
    gateway.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
