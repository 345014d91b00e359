'use strict';
/**
 * What the end-to-end benches (issuance.js, ocsp.js, crl.js) share: argument parsing, formatting, their
 * own database signet_bench_<hex> and QUEUE_PREFIX on DATABASE_URL's / REDIS_URL's servers, the built
 * gateway and signer as child processes (logs in a temporary folder), and the clean-up that drops the
 * database, deletes the prefix's Redis keys and stops the children, also on failure or Ctrl-C.
 */
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Client } = require('pg');
const Redis = require('ioredis');

const ROOT = path.join(__dirname, '..', '..');
const GATEWAY_MAIN = 'dist/apps/api-gateway/src/main.js';
const SIGNER_MAIN = 'dist/apps/signer/src/main.js';
const MIGRATIONS_CLI = 'dist/libs/persistence/src/cli.js';

/** `--name value` options and `--name` flags of this process's command line. */
function parseArgs(argv = process.argv.slice(2)) {
  const arg = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
  const flag = (name) => argv.includes(`--${name}`);
  return { arg, flag };
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The q-quantile of an ascending array (nearest rank), NaN when empty. */
function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** "<ISO time>, Node <version>, <n> CPUs (<model>)": the first line of every bench. */
const machineLine = () => `${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model.trim()})`;

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function portAnswers(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** One JSON call to the gateway's API: the status and the parsed body (null if none). */
async function api(base, method, route, key, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

/** A CA through the API (POST /api/v1/cas with `body`): its `ca` object; throws unless 201. */
async function createCa(base, key, body) {
  const ca = await api(base, 'POST', '/api/v1/cas', key, body);
  if (ca.status !== 201) throw new Error(`create CA: ${ca.status} ${JSON.stringify(ca.json)}`);
  return ca.json.ca;
}

/**
 * A bench run: its temporary folder, database, queue prefix and platform admin key, the child processes
 * it starts, and its clean-up. `name` names the temporary folder (signet-bench-<name>-*).
 */
function createRun(name) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `signet-bench-${name}-`));
  const dbName = `signet_bench_${randomBytes(4).toString('hex')}`;
  const serverUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet');
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${dbName}`;
  const adminUrl = new URL(serverUrl);
  adminUrl.pathname = '/postgres';
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const queuePrefix = `signet-bench-${randomBytes(4).toString('hex')}`;
  const platformAdminKey = `sgn_platform_${randomBytes(32).toString('base64url')}`;
  const children = [];
  const cleanupSteps = [];
  let stopGraceMs = 10_000;

  const run = {
    work,
    dbName,
    dbUrl,
    redisUrl,
    queuePrefix,
    platformAdminKey,
    children,

    /** How long a stopped child may take to exit before SIGKILL (a profiled one must write its profile). */
    set stopGraceMs(ms) {
      stopGraceMs = ms;
    },

    /** Throws unless the build this bench runs is there. */
    requireBuild() {
      for (const file of [GATEWAY_MAIN, SIGNER_MAIN, MIGRATIONS_CLI]) {
        if (!fs.existsSync(path.join(ROOT, file))) throw new Error(`${file} is missing: run npm run build first`);
      }
    },

    /** PATH, DATABASE_URL, REDIS_URL, QUEUE_PREFIX and LOG_LEVEL (plus `extra`) for every service. */
    sharedEnv(logLevel, extra = {}) {
      return { PATH: process.env.PATH, DATABASE_URL: dbUrl.toString(), ...extra, REDIS_URL: redisUrl, QUEUE_PREFIX: queuePrefix, LOG_LEVEL: logLevel };
    },

    /** The gateway on 127.0.0.1:port with rate limits out of the way. */
    gatewayEnv(shared, port, workers, extra = {}) {
      return {
        ...shared,
        PORT: String(port),
        HOST: '127.0.0.1',
        PLATFORM_ADMIN_KEY: platformAdminKey,
        PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        GATEWAY_WORKERS: String(workers),
        RATE_LIMIT_GENERAL: '10000000',
        RATE_LIMIT_ISSUE: '10000000',
        RATE_LIMIT_BATCH: '10000000',
        ...extra,
      };
    },

    /** The signer with its health port and a fresh MASTER_KEY. */
    signerEnv(shared, port, extra = {}) {
      return { ...shared, SIGNER_HEALTH_PORT: String(port), MASTER_KEY: randomBytes(32).toString('base64'), ...extra };
    },

    /** A new org "Bench" through the platform API: its admin key. */
    async createOrg(base) {
      const org = await api(base, 'POST', '/api/v1/platform/orgs', platformAdminKey, { name: 'Bench', slug: `bench-${randomBytes(4).toString('hex')}` });
      if (org.status !== 201) throw new Error(`create org: ${org.status} ${JSON.stringify(org.json)}`);
      return org.json.adminKey;
    },

    /** Creates the database and runs the migrations (the built CLI). */
    createDatabase(env) {
      const cli = path.join(ROOT, MIGRATIONS_CLI);
      execFileSync(process.execPath, [cli, 'create-db'], { env, stdio: 'ignore' });
      execFileSync(process.execPath, [cli, 'run'], { env, stdio: 'ignore' });
    },

    /** A built app (`main` relative to the repository or absolute) as a child, its output in work/<name>.log. */
    startService(serviceName, main, env, nodeArgs = []) {
      const out = fs.openSync(path.join(work, `${serviceName}.log`), 'a');
      const child = spawn(process.execPath, [...nodeArgs, path.resolve(ROOT, main)], { env, stdio: ['ignore', out, out] });
      return run.adopt(child, serviceName);
    },

    /** Counts a child process as this run's (stopped at the end, its CPU grouped under `serviceName`). */
    adopt(child, serviceName) {
      child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      child.serviceName = serviceName;
      child.spawnedAt = performance.now();
      children.push(child);
      return child;
    },

    async waitForHealth(serviceName, child, port, route = '/healthz') {
      for (let i = 0; i < 300; i++) {
        if (child.exitCode !== null) throw new Error(`${serviceName} exited (${child.exitCode}): ${run.tail(serviceName)}`);
        if (await fetch(`http://127.0.0.1:${port}${route}`).then((r) => r.ok, () => false)) return;
        await sleep(100);
      }
      throw new Error(`${serviceName} did not answer ${route} in 30 s: ${run.tail(serviceName)}`);
    },

    /** The last five lines of a service's log, on one line. */
    tail(serviceName) {
      try {
        return fs.readFileSync(path.join(work, `${serviceName}.log`), 'utf8').trim().split('\n').slice(-5).join(' | ');
      } catch {
        return '(no log)';
      }
    },

    async stopService(child, graceMs = stopGraceMs) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([child.exited, sleep(graceMs)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },

    async stopServices() {
      await Promise.all(children.map((child) => run.stopService(child)));
    },

    /** A client on the run's database for the length of `fn`. */
    async withDb(fn) {
      const db = new Client({ connectionString: dbUrl.toString() });
      await db.connect();
      try {
        return await fn(db);
      } finally {
        await db.end();
      }
    },

    /** `fn` runs first at clean-up (in the order registered), before the services are stopped. */
    onCleanup(fn) {
      cleanupSteps.push(fn);
    },

    /**
     * Stops everything, drops the database, deletes the Redis keys and the folder. Once: a second call
     * (main failing while Ctrl-C cleans up) waits for the first to finish. Never throws.
     */
    cleanup() {
      cleaning ??= cleanupOnce();
      return cleaning;
    },
  };

  let cleaning = null;
  async function cleanupOnce() {
    for (const step of cleanupSteps) await Promise.resolve().then(step).catch(() => undefined);
    await run.stopServices().catch(() => undefined);
    const admin = new Client({ connectionString: adminUrl.toString() });
    await admin
      .connect()
      .then(() => admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).finally(() => admin.end()), () => undefined)
      .catch((err) => log(`could not drop ${dbName}: ${err.message}`));
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${queuePrefix}:*`, 'COUNT', 1000);
        if (keys.length) await redis.unlink(...keys);
        cursor = nextCursor;
      } while (cursor !== '0');
    } catch (err) {
      log(`could not delete Redis keys ${queuePrefix}:*: ${err.message}`);
    } finally {
      redis.disconnect();
    }
    fs.rmSync(work, { recursive: true, force: true });
  }

  Object.assign(run, {
    /**
     * Runs `main`, then cleans up and exits: 0, 1 on failure (with the services' last log lines, or what
     * `onError(error)` prints instead), 130 on Ctrl-C. `script` names the bench in the failure message.
     */
    main(script, main, onError) {
      // Output piped into `head` must not kill the run before it cleans up.
      process.stdout.on('error', () => undefined);
      process.once('SIGINT', () => {
        log('\ninterrupted: cleaning up');
        run.cleanup().finally(() => process.exit(130));
      });
      main()
        .then(run.cleanup, async (error) => {
          if (onError) onError(error);
          else {
            process.stderr.write(`${script}: ${error.stack || error}\n`);
            for (const child of children) process.stderr.write(`  ${child.serviceName} log: ${run.tail(child.serviceName)}\n`);
          }
          await run.cleanup();
          process.exitCode = 1;
        })
        .then(() => process.exit());
    },
  });
  return run;
}

module.exports = { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, sleep, fmt, percentile, machineLine, freePort, portAnswers, api, createCa, createRun };
