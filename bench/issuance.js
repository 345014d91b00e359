#!/usr/bin/env node
/**
 * CSR-mode issuance through the real path: HTTP -> built gateway -> BullMQ (Redis) -> built signer ->
 * PostgreSQL, P-256 CA and P-256 CSRs, rate limits raised by env, everything on this machine. Then the
 * reference peers (`cfssl serve` without and with its PostgreSQL certdb, from ../shared/peers/start)
 * loaded by the same loader code with the same connections and CSRs, in the same run.
 *
 *   npm run build && node bench/issuance.js [--seconds 15] [--connections 32] [--rate 500] [--csrs 256]
 *       [--gateway-workers 1] [--signer-concurrency 32] [--pool-size 10] [--open-sockets 64]
 *       [--no-peers] [--peers ../shared/peers] [--no-wrk] [--wrk-seconds 5] [--log-level warn]
 *       [--coalesce-ms 2] [--coalesce-max 64] [--otlp-sink | --otlp URL]
 *   node bench/issuance.js --profile DIR [--seconds 10]    # V8 CPU profiles of gateway and signer, summarised
 *
 * Phases: warm-up, a closed loop (N connections, each sends its next request when the last answered:
 * throughput, p50/p99), an open loop at a fixed rate (requests scheduled by the clock, latency measured
 * from the scheduled send time, so a stall is not hidden by coordinated omission; see openLoop). Only 201
 * (ours) / 200 (cfssl) count as done. Beside each figure: CPU per process (from /proc, with what the rest
 * of the machine used meanwhile) and, for ours, BullMQ's own job timestamps (queue wait, signer work)
 * read back from Redis. Where wrk is installed, a short wrk run per target cross-checks the Node loader.
 *
 * Tracing: off unless asked. `--otlp-sink` starts a throwaway OTLP/HTTP receiver (lib/otlp-sink.js, its
 * own process) and gives gateway and signer OTEL_EXPORTER_OTLP_ENDPOINT pointing at it; `--otlp URL`
 * points them at a collector of yours. Off vs on: docs/BENCHMARKS.md, "Tracing off vs on".
 *
 * Creates its own database signet_bench_<hex> on DATABASE_URL's server and its own QUEUE_PREFIX; drops
 * the database and deletes the Redis keys at the end, also on failure or Ctrl-C. Peers already running
 * are reused and left running; peers this script started are stopped (../shared/peers/stop). Takes
 * about 2.5 minutes with the defaults. Figures and the reading of them: docs/BENCHMARKS.md.
 */
'use strict';
const { execFile, spawn: execFileChild } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { promisify } = require('node:util');
const Redis = require('ioredis');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, sleep, fmt, percentile, machineLine, freePort, portAnswers, api, createCa, createRun } = require('./lib/harness');
const { cpuGroups, cpuSnapshot, cpuSince } = require('./lib/cpu');
const { createPeers } = require('./lib/peers');
const { selfSamples, printSelfSamples } = require('./lib/profile');
const { runWrk, wrkInstalled } = require('./lib/wrk');

const { arg, flag } = parseArgs();
const SECONDS = Number(arg('seconds', flag('profile') ? '10' : '15'));
const WARMUP_SECONDS = Number(arg('warmup', '3'));
const CONNECTIONS = Number(arg('connections', '32'));
const RATE = Number(arg('rate', '500'));
const CSR_COUNT = Number(arg('csrs', '256'));
const PROFILE_DIR = arg('profile') ? path.resolve(arg('profile')) : null;
const PEERS_DIR = path.resolve(arg('peers', path.join(ROOT, '..', 'shared', 'peers')));
const USE_PEERS = !flag('no-peers') && !PROFILE_DIR;
const USE_WRK = !flag('no-wrk') && !PROFILE_DIR;
const WRK_SECONDS = Number(arg('wrk-seconds', '5'));

// Its own database, QUEUE_PREFIX and folder, removed at the end (lib/harness.js).
const run = createRun('issuance');
// A profiled process must exit on its own to write its profile; otherwise 10 s is plenty once idle.
run.stopGraceMs = PROFILE_DIR ? 30_000 : 10_000;
const { work, dbName, children, queuePrefix: QUEUE_PREFIX, redisUrl: REDIS_URL, withDb } = run;
const peers = createPeers(run, PEERS_DIR);

// ------------------------------------------------------------------------------------------------ load

/** One POST on a keep-alive agent; resolves with the status (body drained), rejects on socket errors. */
function post(agent, target, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...headers, 'Content-Length': body.length } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function summarise(latencies, ok, statuses, errors, elapsedMs) {
  const sorted = Float64Array.from(latencies).sort();
  return {
    ok,
    perSecond: (ok * 1000) / elapsedMs,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    statuses,
    errors,
  };
}

/** N connections, each sending its next request as soon as the last one answered. */
async function closedLoop(target, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies = [];
  const statuses = {};
  let ok = 0;
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const body = target.bodies[next++ % target.bodies.length];
        const sent = performance.now();
        try {
          const status = await post(agent, target.url, target.headers, body);
          statuses[status] = (statuses[status] || 0) + 1;
          if (status === target.okStatus) {
            ok++;
            latencies.push(performance.now() - sent);
          }
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  agent.destroy();
  return summarise(latencies, ok, statuses, errors, elapsed);
}

/**
 * A fixed arrival rate: request i is due at start + i / rate whatever happened to the earlier ones, and
 * its latency counts from that due time (a late send, a wait for a free connection or a stall all show).
 * At most OPEN_SOCKETS connections: requests beyond wait in the client, their wait counted, so an
 * overloaded server is not also flooded with connections (cfssl would open a database connection for
 * each, past PostgreSQL's max_connections). Requests still unanswered GRACE_MS after the last one was
 * due count as failed, with their age then as a lower bound of their latency: the p99 is then ">=".
 */
const OPEN_SOCKETS = Number(arg('open-sockets', '64'));
const GRACE_MS = 5000;

async function openLoop(target, rate, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: OPEN_SOCKETS });
  const latencies = [];
  const statuses = {};
  const pending = new Map(); // request number -> due time
  let ok = 0;
  let errors = 0;
  let lastDone = 0;
  let maxOutstanding = 0;
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  let allDone = null;
  const finished = new Promise((resolve) => (allDone = resolve));
  let i = 0;
  const fire = (n, due, body) => {
    pending.set(n, due);
    maxOutstanding = Math.max(maxOutstanding, pending.size);
    post(agent, target.url, target.headers, body)
      .then(
        (status) => {
          if (!pending.has(n)) return; // given up on already
          statuses[status] = (statuses[status] || 0) + 1;
          if (status === target.okStatus) ok++;
          else errors++;
          latencies.push(performance.now() - due);
        },
        () => {
          if (!pending.has(n)) return;
          errors++;
          latencies.push(performance.now() - due);
        },
      )
      .finally(() => {
        if (!pending.delete(n)) return;
        lastDone = performance.now();
        if (i === total && pending.size === 0) allDone();
      });
  };
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (i < total && start + i * interval <= now) {
        fire(i, start + i * interval, target.bodies[i % target.bodies.length]);
        i++;
      }
      if (i < total) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
      else resolve();
    };
    setTimeout(tick, 20);
  });
  if (pending.size) await Promise.race([finished, sleep(GRACE_MS)]);
  const givenUpAt = performance.now();
  const unfinished = pending.size;
  for (const due of pending.values()) latencies.push(givenUpAt - due);
  pending.clear();
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  const lowerBound = (q) => unfinished > 0 && percentile(sorted, q) >= GRACE_MS;
  return {
    ok,
    sent: total,
    perSecond: (ok * 1000) / (Math.max(lastDone, start + seconds * 1000) - start),
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    p50LowerBound: lowerBound(0.5),
    p99LowerBound: lowerBound(0.99),
    statuses,
    errors: errors - Object.entries(statuses).filter(([st]) => Number(st) !== target.okStatus).reduce((a, [, c]) => a + c, 0),
    unfinished,
    maxOutstanding,
  };
}

// ------------------------------------------------------------------------------------------- CPU split

/** Ticks of our services (and the gateway's cluster workers), this script, PostgreSQL, Redis, cfssl. */
const groupsOf = (table) => cpuGroups(table, children, 'loader (this script)');

/** Runs `fn` and reports each group's CPU as % of one core over its duration. */
async function withCpu(fn) {
  const before = cpuSnapshot(groupsOf);
  const result = await fn();
  const { cpu, accounted, forksPerSecond } = cpuSince(before, groupsOf);
  // Kernel time not charged to a process (loopback softirqs) and everybody else on the machine.
  cpu['rest (kernel, other processes)'] = Math.max(0, cpu['machine busy'] - accounted);
  return { ...result, cpu, forksPerSecond };
}

const cpuLine = (cpu) =>
  Object.entries(cpu)
    .sort((a, b) => (a[0] === 'machine busy') - (b[0] === 'machine busy') || b[1] - a[1])
    .sort((a, b) => (a[0] === 'machine busy') - (b[0] === 'machine busy'))
    .map(([name, pct]) => `${name} ${pct.toFixed(0)}%`)
    .join(', ');

// ------------------------------------------------------------------------------------------- reporting

function report(label, r) {
  const bad = Object.entries(r.statuses).filter(([s]) => Number(s) !== 201 && Number(s) !== 200);
  const errs = r.errors + bad.reduce((n, [, c]) => n + c, 0);
  const ms = (v, lower) => `${lower ? '>=' : '  '}${v.toFixed(1).padStart(6)} ms`;
  const open = r.sent !== undefined ? `sent ${fmt(r.sent)}, ` : '';
  const extra = r.sent !== undefined ? `, unanswered ${GRACE_MS / 1000} s after the last send ${fmt(r.unfinished)}, most outstanding ${r.maxOutstanding}` : '';
  log(`  ${label.padEnd(34)} ${fmt(r.perSecond).padStart(6)} /s   p50 ${ms(r.p50, r.p50LowerBound)}   p99 ${ms(r.p99, r.p99LowerBound)}   max ${r.max.toFixed(0).padStart(5)} ms   (${open}ok ${fmt(r.ok)}, errors ${errs}${bad.length ? ` ${JSON.stringify(Object.fromEntries(bad))}` : ''}${extra})`);
  if (r.cpu) log(`  ${''.padEnd(34)} CPU (% of one core; 200% = the machine): ${cpuLine(r.cpu)}; processes forked ${fmt(r.forksPerSecond)} /s`);
}

/** BullMQ's own timestamps of the most recent completed jobs: time queued, time in the signer. */
async function jobTimings(redis, count = 2000) {
  const ids = await redis.zrevrange(`${QUEUE_PREFIX}:signer:completed`, 0, count - 1);
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(`${QUEUE_PREFIX}:signer:${id}`, 'timestamp', 'processedOn', 'finishedOn');
  const rows = ((await pipeline.exec()) || []).map(([, v]) => v.map(Number)).filter((v) => v.every((n) => n > 0));
  const wait = Float64Array.from(rows.map(([t, p]) => p - t)).sort();
  const work = Float64Array.from(rows.map(([, p, f]) => f - p)).sort();
  const total = Float64Array.from(rows.map(([t, , f]) => f - t)).sort();
  const q = (a) => `p50 ${percentile(a, 0.5)} / p99 ${percentile(a, 0.99)} ms`;
  return `jobs (last ${rows.length}): queued->taken ${q(wait)}; signer work ${q(work)}; added->finished ${q(total)}`;
}

// ---------------------------------------------------------------------------------------------- peers

/** Starts the peers unless they already answer; reads the sign endpoints from the script's output. */
async function startPeers() {
  const urls = { nodb: 'http://127.0.0.1:8888/api/v1/cfssl/sign', pg: 'http://127.0.0.1:8898/api/v1/cfssl/sign' };
  if ((await portAnswers(8888)) && (await portAnswers(8898))) return { urls, startedHere: false };
  const text = peers.start();
  const found = (comment) => new RegExp(`(http://127\\.0\\.0\\.1:\\d+/api/v1/cfssl/sign)\\s+#\\s*${comment}`).exec(text)?.[1];
  urls.nodb = found('cfssl, no DB') ?? urls.nodb;
  urls.pg = found('cfssl \\+ PostgreSQL') ?? urls.pg;
  return { urls, startedHere: true };
}

/** wrk, the tool the peers script suggests, as a cross-check of the Node loader (same connections). */
function wrk(url, headers, body, seconds) {
  const lua = path.join(work, `wrk-${randomBytes(3).toString('hex')}.lua`);
  const lines = ['wrk.method = "POST"', `wrk.body = ${JSON.stringify(body.toString())}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  fs.writeFileSync(lua, lines.join('\n') + '\n');
  const r = runWrk(['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', lua, url]);
  if (Number.isNaN(r.rps)) return `wrk failed: ${r.stderr || r.raw}`;
  return `${fmt(r.rps)} /s   p50 ${r.text.p50}   p99 ${r.text.p99}   (non-2xx ${r.non2xx}; counts every answer)`;
}

// ------------------------------------------------------------------------------------------ profiles

/**
 * Self time by function, by package and by part of the path, of every .cpuprofile in dir, counting only
 * samples inside `window` (ms after the process was spawned: the measured loop, not start-up). Shares
 * are of sample counts, not of the time between samples: a thread preempted by another process (2 cores
 * for everything here) gets no sample meanwhile, so counts follow CPU time where time deltas would
 * charge the preemption to whatever the thread was running.
 */
function summariseProfiles(dir, window) {
  // node:internal/http_server.js -> "node http" (the file name up to its first underscore)
  const samples = selfSamples(dir, window, (file) => file.replace(/^_+/, '').replace(/_.*/, ''));
  if (samples) printSelfSamples(samples, PARTS, 25);
}

const PARTS = [
  [/^npm (express|router|body-parser|raw-body|iconv-lite|on-finished|finalhandler|path-to-regexp|send|qs|content-type|type-is|media-typer|depd|destroy|http-errors|statuses|setprototypeof|mime-types|mime-db|accepts|negotiator|vary|cookie|@nestjs\/(core|common|platform-express|throttler|swagger)|rxjs|reflect-metadata|tslib|iterare|fast-safe-stringify|uid|@lukeed\/.*)$|^node http$/, 'HTTP + Nest (express, router, Nest core, guards plumbing)'],
  [/^npm (pino|pino-http|pino-std-serializers|fast-redact|sonic-boom|thread-stream|on-exit-leak-free|nestjs-pino|safe-stable-stringify|quick-format-unescaped|atomic-sleep|real-require)$/, 'logging (pino)'],
  [/^npm (class-validator|class-transformer|validator|libphonenumber-js)$/, 'validation (class-validator/transformer)'],
  [/^npm (bullmq|ioredis|redis-parser|redis-errors|denque|cluster-key-slot|standard-as-callback|lodash.*|msgpackr|cron-parser|luxon|semver|uuid|node-abort-controller)$/, 'queue and Redis client (bullmq, ioredis)'],
  [/^npm (typeorm|pg|pg-protocol|pg-pool|pg-types|postgres-.*|pgpass|pg-connection-string|pg-int8|buffer-writer|packet-reader|split2|@sqltools\/.*|app-root-path|dayjs|sha\.js|dotenv)$/, 'PostgreSQL client (typeorm, pg)'],
  [/^node crypto$|^signet libs\/pki$|^native: (sign|verify|.*Jwk.*|.*KeyObject.*)$/, 'signing and CSR checks (node:crypto, libs/pki)'],
  [/^native: (writev|writeBuffer|writeUtf8String|writeLatin1String|read.*|close|connect)$|^node (net|streams|stream|dns|tcp)$/, 'socket I/O (syscalls, net, streams)'],
  [/^V8 garbage collector$/, 'V8 garbage collector'],
  [/^signet (apps|libs)\//, 'Signet code (apps, libs other than pki)'],
  [/^npm prom-client$|^npm @opentelemetry/, 'metrics (prom-client)'],
];


// ------------------------------------------------------------------------------------------------ main

async function csrPool(count) {
  const openssl = promisify(execFile);
  const pems = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const { stdout } = await openssl('openssl', [
          'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
          '-subj', `/CN=host${i}.bench.test`, '-addext', `subjectAltName=DNS:host${i}.bench.test`,
        ]);
        pems[i] = stdout;
      }
    }),
  );
  return pems;
}

/** The OTLP endpoint for gateway and signer (tracing on), or null (off): --otlp URL, or a sink of our own with --otlp-sink. */
async function otlpEndpoint() {
  if (arg('otlp')) return { url: arg('otlp'), stop: async () => undefined };
  if (!flag('otlp-sink')) return null;
  const port = await freePort();
  const sink = execFileChild(process.execPath, [path.join(__dirname, 'lib', 'otlp-sink.js'), String(port)]);
  // Gone with this process, also on failure or Ctrl-C.
  process.once('exit', () => sink.kill());
  let printed = '';
  sink.stdout.on('data', (chunk) => (printed += chunk));
  for (let i = 0; i < 100 && !printed.includes('listening'); i++) await sleep(50);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((resolve) => sink.once('exit', resolve));
      sink.kill('SIGTERM');
      await exited;
      return printed.split('\n').filter((line) => / spans$/.test(line)).pop();
    },
  };
}

async function main() {
  run.requireBuild();
  const gatewayPort = await freePort();
  const signerPort = await freePort();
  const otlp = await otlpEndpoint();
  const shared = run.sharedEnv(arg('log-level', 'warn'), {
    DATABASE_POOL_SIZE: arg('pool-size', '10'),
    ...(otlp ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url } : {}),
  });
  const gatewayEnv = run.gatewayEnv(shared, gatewayPort, arg('gateway-workers', '1'), {
    // Not the default 3443: another stack on the machine may hold it.
    HTTPS_PORT: String(await freePort()),
    ISSUE_COALESCE_MS: arg('coalesce-ms', '2'),
    ISSUE_COALESCE_MAX: arg('coalesce-max', '64'),
  });
  const signerEnv = run.signerEnv(shared, signerPort, { SIGNER_CONCURRENCY: arg('signer-concurrency', '32') });

  log(`issuance bench, ${machineLine()}`);
  log(`  tracing ${otlp ? `on: OTEL_EXPORTER_OTLP_ENDPOINT=${otlp.url}${arg('otlp') ? '' : ' (a throwaway sink, bench/lib/otlp-sink.js)'}` : 'off (OTEL_EXPORTER_OTLP_ENDPOINT unset)'}`);
  log(`  database ${dbName}, QUEUE_PREFIX ${QUEUE_PREFIX}, GATEWAY_WORKERS=${gatewayEnv.GATEWAY_WORKERS}, SIGNER_CONCURRENCY=${signerEnv.SIGNER_CONCURRENCY}, DATABASE_POOL_SIZE=${shared.DATABASE_POOL_SIZE}, LOG_LEVEL=${shared.LOG_LEVEL}`);
  run.createDatabase(shared);
  const profile = (name) => (PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, name)] : []);
  const [pems] = await Promise.all([
    csrPool(CSR_COUNT),
    (async () => {
      const gateway = run.startService('gateway', GATEWAY_MAIN, gatewayEnv, profile('gateway'));
      const signer = run.startService('signer', SIGNER_MAIN, signerEnv, profile('signer'));
      await Promise.all([run.waitForHealth('gateway', gateway, gatewayPort), run.waitForHealth('signer', signer, signerPort)]);
    })(),
  ]);

  const base = `http://127.0.0.1:${gatewayPort}`;
  const orgKey = await run.createOrg(base);
  const caId = (await createCa(base, orgKey, { name: 'Bench P-256', subject: { commonName: 'Bench P-256 Root' }, keyAlgorithm: 'ECDSA-P256' })).id;

  // The same CSR twice is accepted and gives two certificates (issuance does not need unique CSRs).
  const once = await api(base, 'POST', '/api/v1/certificates', orgKey, { caId, mode: 'csr', csrPem: pems[0] });
  const twice = await api(base, 'POST', '/api/v1/certificates', orgKey, { caId, mode: 'csr', csrPem: pems[0] });
  if (once.status !== 201 || twice.status !== 201) throw new Error(`issue: ${once.status}/${twice.status} ${JSON.stringify(twice.json)}`);
  if (once.json.certificate.serialNumber === twice.json.certificate.serialNumber) throw new Error('same serial twice');
  if (once.json.certificate.commonName !== 'host0.bench.test' || once.json.certificate.keyAlgorithm !== 'ECDSA-P256') {
    throw new Error(`unexpected certificate: ${JSON.stringify(once.json.certificate)}`);
  }
  log(`  P-256 CA ${caId}; ${pems.length} P-256 CSRs (openssl), reused round-robin; smoke check: the same CSR twice -> two serials`);

  const signet = {
    url: new URL(`${base}/api/v1/certificates`),
    headers: { Authorization: `Bearer ${orgKey}`, 'Content-Type': 'application/json' },
    bodies: pems.map((csrPem) => Buffer.from(JSON.stringify({ caId, mode: 'csr', csrPem }))),
    okStatus: 201,
  };
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const results = {};
  try {
    log(`  one round trip from this process, sequential, idle stack: ${await roundTrips(redis)}`);
    log(`\nSignet (gateway -> BullMQ -> signer -> PostgreSQL), warm-up ${WARMUP_SECONDS} s`);
    await closedLoop(signet, WARMUP_SECONDS);
    const measured = { from: performance.now() };
    results.signetClosed = await withCpu(() => closedLoop(signet, SECONDS));
    measured.to = performance.now();
    report(`closed loop, ${CONNECTIONS} connections, ${SECONDS} s`, results.signetClosed);
    log(`  ${''.padEnd(34)} ${await jobTimings(redis)}`);
    if (PROFILE_DIR) {
      await run.stopServices();
      for (const child of children) {
        const name = child.serviceName;
        log(`\nprofile: ${name} (${path.join(PROFILE_DIR, name)}), the ${SECONDS} s closed loop only`);
        summariseProfiles(path.join(PROFILE_DIR, name), { from: measured.from - child.spawnedAt, to: measured.to - child.spawnedAt });
      }
      return;
    }
    await sleep(1000);
    results.signetOpen = await withCpu(() => openLoop(signet, RATE, SECONDS));
    report(`open loop, ${RATE} /s, ${SECONDS} s`, results.signetOpen);
    log(`  ${''.padEnd(34)} ${await jobTimings(redis)}`);
    const { rows } = await withDb((db) => db.query('SELECT count(*)::int AS n FROM certificates'));
    results.rows = rows[0].n;
    log(`  certificates rows in ${dbName}: ${fmt(rows[0].n)} (every 201 is a committed row; warm-up and smoke included)`);
    if (USE_WRK && wrkInstalled()) {
      log(`  wrk -t2 -c${CONNECTIONS} -d${WRK_SECONDS}s, one CSR (cross-check of the loader): ${wrk(signet.url.toString(), signet.headers, signet.bodies[0], WRK_SECONDS)}`);
    }
  } finally {
    redis.disconnect();
  }
  // Our processes go before the peers run, so they do not share the cores with idle-but-alive services.
  await run.stopServices();
  if (otlp) log(`  tracing: ${(await otlp.stop()) ?? `spans sent to ${otlp.url}`}`);
  for (const child of children) {
    const lines = fs.readFileSync(path.join(work, `${child.serviceName}.log`), 'utf8').split('\n').filter(Boolean);
    if (lines.length) log(`  ${child.serviceName} log (LOG_LEVEL=${shared.LOG_LEVEL}): ${lines.length} lines, last: ${lines[lines.length - 1].slice(0, 300)}`);
  }
  // Backends flush their statistics when they exit: transactions (an autocommit statement is one) per row.
  const stats = await withDb((db) => db.query('SELECT xact_commit + xact_rollback AS x, tup_fetched, tup_inserted FROM pg_stat_database WHERE datname = current_database()'));
  const st = stats.rows[0];
  log(`  PostgreSQL, whole run (setup included): ${(Number(st.x) / results.rows).toFixed(1)} transactions, ${(Number(st.tup_inserted) / results.rows).toFixed(1)} rows inserted, ${(Number(st.tup_fetched) / results.rows).toFixed(1)} rows fetched per certificate`);

  if (USE_PEERS) {
    const cfssl = await startPeers();
    log(`\ncfssl serve (${cfssl.startedHere ? 'started by this run' : 'already running'}; same loader, same ${CONNECTIONS} connections, same CSRs)`);
    for (const [key, label, url] of [['Nodb', 'no database', cfssl.urls.nodb], ['Pg', 'PostgreSQL certdb', cfssl.urls.pg]]) {
      const target = {
        url: new URL(url),
        headers: { 'Content-Type': 'application/json' },
        bodies: pems.map((pem) => Buffer.from(JSON.stringify({ certificate_request: pem }))),
        okStatus: 200,
      };
      const probe = await fetch(url, { method: 'POST', body: target.bodies[0] }).then((r) => r.json());
      if (!probe.success) throw new Error(`cfssl ${label}: ${JSON.stringify(probe.errors)}`);
      log(` ${label} (${url})`);
      await closedLoop(target, 2);
      results[`cfssl${key}Closed`] = await withCpu(() => closedLoop(target, SECONDS));
      report(`closed loop, ${CONNECTIONS} connections, ${SECONDS} s`, results[`cfssl${key}Closed`]);
      await sleep(500);
      results[`cfssl${key}Open`] = await withCpu(() => openLoop(target, RATE, SECONDS));
      report(`open loop, ${RATE} /s, ${SECONDS} s`, results[`cfssl${key}Open`]);
      if (USE_WRK && wrkInstalled()) {
        log(`  wrk -t2 -c${CONNECTIONS} -d${WRK_SECONDS}s, one CSR (as peers/start prints): ${wrk(url, target.headers, target.bodies[0], WRK_SECONDS)}`);
      }
    }
  }

  log('\nsummary');
  const s = results.signetClosed;
  const o = results.signetOpen;
  const p99 = (r) => `${r.p99LowerBound ? '>=' : ''}${r.p99.toFixed(1)} ms`;
  log(`  Signet: ${fmt(s.perSecond)} issuances/s at ${CONNECTIONS} connections (p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms); at ${RATE} /s: p99 ${p99(o)}, achieved ${fmt(o.perSecond)} /s`);
  const openMet = o.p99 <= 100 && !o.p99LowerBound && o.ok >= 0.99 * o.sent;
  log(`  target >= 1,500 /s: ${s.perSecond >= 1500 ? 'met' : 'NOT met'}; target p99 <= 100 ms at ${RATE} /s: ${openMet ? 'met' : 'NOT met'}`);
  if (results.cfsslNodbClosed) {
    for (const [key, label] of [['Nodb', 'cfssl, no database'], ['Pg', 'cfssl + PostgreSQL']]) {
      const c = results[`cfssl${key}Closed`];
      const co = results[`cfssl${key}Open`];
      log(`  ${label}: ${fmt(c.perSecond)} /s (p50 ${c.p50.toFixed(1)}, p99 ${c.p99.toFixed(1)} ms); at ${RATE} /s p99 ${p99(co)}; Signet / this = ${(s.perSecond / c.perSecond).toFixed(2)}x throughput`);
    }
  }
}

/**
 * What one loopback round trip costs here, before any load: the floor under every PostgreSQL statement
 * and Redis command an issuance makes (wall time, and CPU of the calling process alone).
 */
async function roundTrips(redis) {
  const measure = async (fn, n = 2000) => {
    for (let i = 0; i < 200; i++) await fn();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    const wallUs = ((performance.now() - t0) * 1000) / n;
    const used = process.cpuUsage(cpu);
    return `${wallUs.toFixed(0)} us wall / ${((used.user + used.system) / n).toFixed(0)} us CPU`;
  };
  const pg = await withDb((db) => measure(() => db.query('SELECT $1::int AS x', [1])));
  const ping = await measure(() => redis.ping());
  return `PostgreSQL SELECT ${pg}; Redis PING ${ping}`;
}

run.main('bench/issuance.js', main);
