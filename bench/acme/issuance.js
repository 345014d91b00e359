#!/usr/bin/env node
/**
 * Full ACME issuances per second (issue 13): one acme-client account, 16 orders in flight, each a fresh
 * DNS name: newOrder -> http-01 (the bench's responder) -> finalize with a CSR -> download the chain.
 * Against Signet's stack as `npm start` runs it (the built gateway and signer, PostgreSQL, Redis) and, in
 * the same run with the same client code, Debian's `pebble` (pebble.js). Names resolve to 127.0.0.1
 * through a loopback DNS server that both servers query, in a process of its own with the http-01
 * responder (challenge-server.js).
 *
 *   npm run build && node bench/run-ts.js bench/acme/issuance.js [--seconds 20] [--warmup 3]
 *       [--concurrency 16] [--count N] [--poll-ms 50] [--rounds 1] [--gateway-workers 1]
 *       [--log-level warn] [--no-pebble] [--per-request N]
 *   node bench/run-ts.js bench/acme/issuance.js --profile DIR [--seconds 15]   # Signet only, V8 CPU profiles summarised
 *
 * (run-ts.js maps @signet/<lib> to its TypeScript source: the test DNS server and the DER helpers.)
 * `--count N` makes N issuances per server instead of a fixed window; `--rounds N` alternates Signet and
 * pebble N times (both stay up); `--per-request N` first times N single requests of each kind
 * (directory, newNonce, POST-as-GET, newOrder) on the idle servers, with their CPU per request.
 *
 * Beside each figure: each phase's p50/p99 on the client, HTTP requests per issuance (acme-client
 * fetches a nonce before every POST), CPU per process from /proc (ms per issuance; PostgreSQL backends
 * of other databases left out, the rest of the machine as `rest`) and, for Signet, PostgreSQL
 * transactions and rows per issuance and BullMQ's timestamps of the validation and signer jobs. Its own
 * database, QUEUE_PREFIX and folder, removed at the end, also on failure or Ctrl-C (lib/harness.js).
 * Figures and their reading: docs/BENCHMARKS.md.
 */
'use strict';
const acme = require('acme-client');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const Redis = require('ioredis');
const { GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, fmt, percentile, machineLine, freePort, api, createCa, createRun } = require('../lib/harness');
const { cpuGroups, cpuSnapshot, cpuSince } = require('../lib/cpu');
const { selfSamples, printSelfSamples } = require('../lib/profile');
const { pebbleBinary, pebbleVersion, startPebble } = require('./pebble');
const { PHASES, startChallengeServer, csrKey, configureAcmeHttp, newAccount, issueOnce, closedLoop } = require('./workload');

const { arg, flag } = parseArgs();
const PROFILE_DIR = arg('profile') ? path.resolve(arg('profile')) : null;
const SECONDS = Number(arg('seconds', PROFILE_DIR ? '15' : '20'));
const WARMUP_SECONDS = Number(arg('warmup', '3'));
const CONCURRENCY = Number(arg('concurrency', '16'));
const COUNT = arg('count') ? Number(arg('count')) : null;
const POLL_MS = Number(arg('poll-ms', '50'));
const ROUNDS = PROFILE_DIR ? 1 : Number(arg('rounds', '1'));
const USE_PEBBLE = !flag('no-pebble') && !PROFILE_DIR;
const PER_REQUEST = Number(arg('per-request', '0'));
const TARGET_PER_SECOND = 50;

const run = createRun('acme');
run.stopGraceMs = PROFILE_DIR ? 30_000 : 10_000;
const { children, dbName, queuePrefix } = run;
const requestsSent = configureAcmeHttp();
// One name per issuance, never seen before by either server (no authorization to reuse).
const runTag = createHash('sha256').update(run.work).digest('hex').slice(0, 6);

// ------------------------------------------------------------------------------------------- CPU split

/** postgres processes serving another database (other people's work on this machine). */
function otherDatabase(pid) {
  try {
    const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return / postgres \S+ \S+\(\d+\)/.test(title.replace(/\0/g, ' ')) && !title.includes(dbName);
  } catch {
    return false;
  }
}

/** Our children (gateway, signer, pebble), this script, PostgreSQL (ours and the server's own), Redis. */
const groupsOf = (table) => cpuGroups(table.filter((p) => p.comm !== 'postgres' || !otherDatabase(p.pid)), children, 'loader');

/** CPU per group, ms per issuance: what one issuance costs each process at this rate. */
function cpuPerIssuance(cpu, perSecond) {
  const ms = {};
  for (const [name, pct] of Object.entries(cpu)) if (name !== 'machine busy') ms[name] = (pct * 10) / perSecond;
  return ms;
}

// ---------------------------------------------------------------------------------------- server side

/** BullMQ's timestamps of the jobs of `queue` finished between `from` and `to` (epoch ms), by job name. */
async function queueTimings(redis, queue, from, to) {
  const ids = await redis.zrangebyscore(`${queuePrefix}:${queue}:completed`, from, to);
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(`${queuePrefix}:${queue}:${id}`, 'name', 'timestamp', 'processedOn', 'finishedOn');
  const byName = new Map();
  for (const [, [name, ...times]] of (await pipeline.exec()) ?? []) {
    const [added, processed, finished] = times.map(Number);
    if (!(added && processed && finished)) continue;
    if (!byName.has(name)) byName.set(name, { waited: [], worked: [] });
    byName.get(name).waited.push(processed - added);
    byName.get(name).worked.push(finished - processed);
  }
  const q = (values) => {
    const sorted = Float64Array.from(values).sort();
    return `p50 ${percentile(sorted, 0.5)} / p99 ${percentile(sorted, 0.99)} ms`;
  };
  return [...byName].map(([name, t]) => `${queue} ${name} (${fmt(t.waited.length)} jobs): queued->taken ${q(t.waited)}, taken->done ${q(t.worked)}`);
}

/** Transactions (an autocommit statement is one) and rows of our database so far (pg_stat_database). */
const pgCounters = () => run.withDb(async (db) => {
  const { rows } = await db.query('SELECT xact_commit + xact_rollback AS xacts, tup_fetched, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()');
  return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
});

/** PostgreSQL work per issuance between two pgCounters (backends report at most ~1 s late). */
function pgPerIssuance(before, after, issuances) {
  const per = (k) => ((after[k] - before[k]) / issuances).toFixed(1);
  return `PostgreSQL per issuance: ${per('xacts')} transactions, ${per('tup_fetched')} rows fetched, ${per('tup_inserted')} inserted, ${per('tup_updated')} updated`;
}

// ------------------------------------------------------------------------------------------ profiles

/** Parts of the gateway's and signer's work, by package (lib/profile.js categories). */
const PARTS = [
  [/^npm jose$/, 'JWS and JWK (jose)'],
  [/^npm (express|router|body-parser|raw-body|path-to-regexp|finalhandler|send|qs|type-is|on-finished|@nestjs\/.+|rxjs|reflect-metadata|tslib|iterare)$|^node http$/, 'HTTP + Nest'],
  [/^npm (pino|pino-http|pino-std-serializers|fast-redact|sonic-boom|nestjs-pino|safe-stable-stringify|quick-format-unescaped)$/, 'logging (pino)'],
  [/^npm (class-validator|class-transformer|validator)$/, 'validation (class-validator/transformer)'],
  [/^npm (bullmq|ioredis|redis-parser|denque|cluster-key-slot|msgpackr|cron-parser|uuid)$/, 'queues and Redis (bullmq, ioredis)'],
  [/^npm (typeorm|pg|pg-protocol|pg-pool|pg-types|postgres-.+|buffer-writer|packet-reader)$/, 'PostgreSQL client (typeorm, pg)'],
  [/^node crypto$|^signet libs\/pki$|^native: (sign|verify|.*Jwk.*|.*KeyObject.*)$/, 'signatures and CSR checks (node:crypto, libs/pki)'],
  [/^native: (writev|writeBuffer|writeUtf8String|writeLatin1String|read.*|close|connect)$|^node (net|streams|stream|dns|tcp)$/, 'socket I/O'],
  [/^npm (dns-packet|ip)$|^node dgram$/, 'DNS (validation look-ups)'],
  [/^V8 garbage collector$/, 'V8 garbage collector'],
  [/^signet (apps|libs)\//, 'Signet code (apps, libs other than pki)'],
];

function summariseProfiles(window) {
  for (const child of children.filter((c) => c.serviceName === 'gateway' || c.serviceName === 'signer')) {
    const dir = path.join(PROFILE_DIR, child.serviceName);
    log(`\nprofile: ${child.serviceName} (${dir}), the measured window only`);
    const samples = selfSamples(dir, { from: window.from - child.spawnedAt, to: window.to - child.spawnedAt }, (file) => file.replace(/^_+/, '').replace(/_.*/, ''));
    if (samples) printSelfSamples(samples, PARTS, 30);
  }
}

// ------------------------------------------------------------------------------------------- the stack

/** Signet: database, signer, gateway with the ACME settings; an org, a P-256 CA and a profile without EAB. */
async function startSignet(challenges) {
  const [gatewayPort, signerPort, tlsAlpnPort, httpsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const shared = run.sharedEnv(arg('log-level', 'warn'));
  const profile = (name) => (PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, name)] : []);
  run.createDatabase(shared);
  const gatewayEnv = run.gatewayEnv(shared, gatewayPort, arg('gateway-workers', '1'), {
    HTTPS_PORT: String(httpsPort),
    ACME_DNS_RESOLVER: challenges.dns,
    ACME_HTTP01_PORT: String(challenges.httpPort),
    ACME_TLSALPN01_PORT: String(tlsAlpnPort),
    ACME_ORDERS_PER_ACCOUNT_PER_HOUR: '10000000',
    ACME_ORDERS_PER_IP_PER_HOUR: '10000000',
  });
  const gateway = run.startService('gateway', GATEWAY_MAIN, gatewayEnv, profile('gateway'));
  const signer = run.startService('signer', SIGNER_MAIN, run.signerEnv(shared, signerPort), profile('signer'));
  await Promise.all([run.waitForHealth('gateway', gateway, gatewayPort), run.waitForHealth('signer', signer, signerPort)]);

  const base = `http://127.0.0.1:${gatewayPort}`;
  const orgKey = await run.createOrg(base);
  const org = (await api(base, 'GET', '/api/v1/whoami', orgKey)).json.org;
  const ca = await createCa(base, orgKey, { name: 'Bench ACME P-256', subject: { commonName: 'Bench ACME P-256 Root' }, keyAlgorithm: 'ECDSA-P256' });
  const created = await api(base, 'POST', '/api/v1/profiles', orgKey, {
    name: 'Bench ACME', slug: 'bench', caId: ca.id, allowedDomains: ['bench.test'], defaultValidityDays: 30, acmeEabRequired: false,
  });
  if (created.status !== 201) throw new Error(`create profile: ${created.status} ${JSON.stringify(created.json)}`);
  log(`  Signet: gateway ${base} (GATEWAY_WORKERS=${gatewayEnv.GATEWAY_WORKERS}, LOG_LEVEL=${shared.LOG_LEVEL}), one signer, database ${dbName}, QUEUE_PREFIX ${queuePrefix}`);
  log(`          P-256 CA ${ca.id}, profile "bench" (allowedDomains bench.test, no EAB), ACME_ORDERS_PER_* raised to 10,000,000`);
  return { name: 'Signet', directoryUrl: `${base}/acme/${org.slug}/bench/directory` };
}

/** Account, CSR key and names of one server; a first issuance checked before any load. */
async function prepareTarget(server, challenges) {
  const client = await newAccount(server.directoryUrl, POLL_MS);
  const key = csrKey();
  const prefix = server.name.toLowerCase();
  await challenges.register(prefix, client);
  let next = 0;
  const target = { ...server, client, key, names: () => `${prefix}-${runTag}-${next++}.bench.test` };
  const first = await issueOnce(client, target.names(), key);
  const certificates = first.chain.match(/-----BEGIN CERTIFICATE-----/g).length;
  log(`  ${server.name}: smoke issuance ${first.ms.toFixed(0)} ms; leaf ${first.leaf.subject.replace(/\n/g, ', ')} (${first.leaf.publicKey.asymmetricKeyType}), issuer ${first.leaf.issuer.replace(/\n/g, ', ')}, ${certificates} certificate(s) in the chain`);
  return target;
}

// ------------------------------------------------------------------------------------------ measuring

/** Warm-up, then the measured window with CPU per process and (Signet) the queues' own timestamps. */
async function measure(target, redis) {
  await closedLoop(target, { concurrency: CONCURRENCY, seconds: WARMUP_SECONDS });
  const signet = target.name === 'Signet';
  const pgBefore = signet ? await pgCounters() : null;
  const before = cpuSnapshot(groupsOf);
  const requestsBefore = requestsSent();
  const window = { from: performance.now(), fromEpoch: Date.now() };
  let cpu = null;
  const result = await closedLoop(target, {
    concurrency: CONCURRENCY, seconds: SECONDS, count: COUNT,
    onWindowEnd: () => {
      cpu = cpuSince(before, groupsOf);
      Object.assign(window, { to: performance.now(), toEpoch: Date.now() });
    },
  });
  // Every issuance started in the window has ended now: requests (and rows) per issuance started.
  const requests = requestsSent() - requestsBefore;
  cpu.cpu.rest = Math.max(0, cpu.cpu['machine busy'] - cpu.accounted);
  const server = [];
  if (signet) {
    server.push(pgPerIssuance(pgBefore, await pgCounters(), result.started));
    for (const queue of ['acme-validation', 'signer']) server.push(...(await queueTimings(redis, queue, window.fromEpoch, window.toEpoch)));
  }
  return { ...result, cpu: cpu.cpu, requestsPerIssuance: requests / Math.max(1, result.started), server, window };
}

/**
 * What single requests cost on an idle server: N of each kind one after the other, wall time (p50) and
 * CPU per request of each process. acme-client fetches a nonce (HEAD) before each POST, so the signed
 * kinds are a HEAD and a POST.
 */
async function perRequest(target, n) {
  const { client } = target;
  const directory = (await acme.axios.get(target.directoryUrl)).data;
  const order = await client.createOrder({ identifiers: [{ type: 'dns', value: target.names() }] });
  const kinds = [
    ['GET directory', () => acme.axios.get(target.directoryUrl)],
    ['HEAD newNonce', () => acme.axios.head(directory.newNonce)],
    ['HEAD + POST-as-GET order', () => client.getOrder(order)],
    ['HEAD + POST newOrder', () => client.createOrder({ identifiers: [{ type: 'dns', value: target.names() }] })],
  ];
  for (const [label, once] of kinds) {
    for (let i = 0; i < 10; i++) await once();
    const walls = [];
    const before = cpuSnapshot(groupsOf);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await once();
      walls.push(performance.now() - t0);
    }
    const seconds = (performance.now() - before.at) / 1000;
    const { cpu } = cpuSince(before, groupsOf);
    // % of one core over `seconds` -> ms of CPU per request
    const perCall = Object.entries(cpu).map(([k, v]) => [k, (v * seconds * 10) / n]).filter(([k, v]) => k !== 'machine busy' && k !== 'loader' && v >= 0.05)
      .map(([k, v]) => `${k} ${v.toFixed(2)} ms`);
    log(`  ${target.name.padEnd(7)} ${label.padEnd(26)} wall p50 ${percentile(Float64Array.from(walls).sort(), 0.5).toFixed(1)} ms; CPU per request: ${perCall.join(', ')}`);
  }
}

const ms = (v) => `${v.toFixed(0)} ms`;

function report(target, r) {
  log(`  ${target.name.padEnd(7)} ${fmt(r.perSecond, 1).padStart(6)} issuances/s   p50 ${ms(r.p50)}   p99 ${ms(r.p99)}   max ${ms(r.max)}   (ok ${fmt(r.ok)}, errors ${r.errors}${r.errors ? `: ${r.errorKinds.map(([m, c]) => `${c} x ${m}`).join('; ')}` : ''})`);
  log(`          phases, p50 / p99: ${PHASES.map((p) => `${p} ${r.phases[p].p50.toFixed(0)} / ${r.phases[p].p99.toFixed(0)} ms`).join(', ')}`);
  log(`          HTTP requests per issuance ${r.requestsPerIssuance.toFixed(1)}; CPU, % of one core (200% = the machine): ${Object.entries(r.cpu).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')}`);
  const perIssuance = cpuPerIssuance(r.cpu, r.perSecond);
  log(`          CPU per issuance: ${Object.entries(perIssuance).filter(([k]) => k !== 'rest').sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
  for (const line of r.server) log(`          ${line}`);
}

// ------------------------------------------------------------------------------------------------ main

async function main() {
  log(`ACME issuance bench, ${machineLine()}`);
  log(`  load average before start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${CONCURRENCY} orders in flight, ${COUNT ? `${COUNT} issuances` : `${SECONDS} s`} per server per round after ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s); acme-client ${require('acme-client/package.json').version}, polls a challenge or order every ${POLL_MS} ms`);
  run.requireBuild();
  if (USE_PEBBLE && !pebbleBinary()) throw new Error('pebble is not installed (apt-get install pebble), or run with --no-pebble');
  const challenges = await startChallengeServer(run);
  log(`  challenge server (its own process): DNS ${challenges.dns} (every *.bench.test -> 127.0.0.1), http-01 responder 127.0.0.1:${challenges.httpPort}`);

  const servers = [await startSignet(challenges)];
  if (USE_PEBBLE) {
    const pebble = await startPebble(run, { httpPort: challenges.httpPort, dnsAddress: challenges.dns });
    acme.axios.defaults.httpsAgent = pebble.httpsAgent;
    log(`  pebble ${pebbleVersion()}: ${pebble.directoryUrl} (${Object.entries(pebble.env).filter(([k]) => k !== 'PATH').map(([k, v]) => `${k}=${v}`).join(' ')}, -dnsserver ${challenges.dns}, EAB off)`);
    servers.push({ name: 'pebble', directoryUrl: pebble.directoryUrl });
  }
  const targets = [];
  for (const server of servers) targets.push(await prepareTarget(server, challenges));

  if (PER_REQUEST) {
    log(`\nsingle requests, ${PER_REQUEST} of each kind in a row, idle servers`);
    for (const target of targets) await perRequest(target, PER_REQUEST);
  }
  const redis = new Redis(run.redisUrl, { maxRetriesPerRequest: 1 });
  run.onCleanup(() => redis.disconnect());
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`\nround ${round}`);
    const results = {};
    for (const target of targets) {
      results[target.name] = await measure(target, redis);
      report(target, results[target.name]);
    }
    rounds.push(results);
  }

  if (PROFILE_DIR) {
    await run.stopServices();
    summariseProfiles(rounds[0].Signet.window);
    return;
  }
  log(`\nsummary: ${CONCURRENCY} in flight, ${COUNT ? `${COUNT} issuances` : `${SECONDS} s`} per server per round`);
  log('| round | server | issuances/s | p50 | p99 | CPU per issuance: server | client | rest of the machine | Signet / pebble |');
  log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [i, results] of rounds.entries()) {
    for (const [name, r] of Object.entries(results)) {
      const perIssuance = cpuPerIssuance(r.cpu, r.perSecond);
      const serverMs = ['gateway', 'signer', 'postgres', 'redis', 'pebble'].reduce((sum, k) => sum + (perIssuance[k] ?? 0), 0);
      const ratio = name === 'Signet' && results.pebble ? `${(r.perSecond / results.pebble.perSecond).toFixed(2)}x` : '';
      log(`| ${i + 1} | ${name} | ${fmt(r.perSecond, 1)} | ${ms(r.p50)} | ${ms(r.p99)} | ${serverMs.toFixed(1)} ms | ${(perIssuance.loader ?? 0).toFixed(1)} ms | ${r.cpu.rest.toFixed(0)}% | ${ratio} |`);
    }
  }
  const signet = rounds.map((r) => r.Signet.perSecond);
  const ratios = USE_PEBBLE ? rounds.map((r) => r.Signet.perSecond / r.pebble.perSecond) : [];
  const range = (values, digits) => `${fmt(Math.min(...values), digits)}${values.length > 1 ? `-${fmt(Math.max(...values), digits)}` : ''}`;
  log(`targets: >= ${TARGET_PER_SECOND} /s: ${Math.min(...signet) >= TARGET_PER_SECOND ? 'met' : 'NOT met'} (${range(signet, 1)} /s)${USE_PEBBLE ? `; >= 1.0x pebble: ${Math.min(...ratios) >= 1 ? 'met' : 'NOT met'} (${range(ratios, 2)}x)` : ''}`);
}

run.main('bench/acme/issuance.js', main);
