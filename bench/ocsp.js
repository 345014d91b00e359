#!/usr/bin/env node
/**
 * OCSP from the built gateway: POST /pki/ocsp (DER body) and GET /pki/ocsp/<url-encoded base64>, loaded
 * with wrk (`-t2 -c64 -d10s --latency`), with GATEWAY_WORKERS=1 and =2; in the same run, the same wrk
 * settings against `cfssl ocspserve` serving a pre-signed response (../shared/peers/start, port 8890) and
 * against references without a framework: a bare node:http server answering the same pre-signed bytes
 * (the ceiling of Node on this machine), and the same after one ioredis GET of the gateway's cache key
 * per request (plain, with ioredis' enableAutoPipelining, and inside a bare Express app), to separate the
 * costs of Node, Redis, Express and the rest of the gateway.
 *
 *   npm run build && node bench/ocsp.js [--seconds 10] [--connections 64] [--threads 2] [--workers 1,2]
 *       [--no-peers] [--peers ../shared/peers] [--no-ceiling] [--log-level warn]
 *   node bench/ocsp.js --profile DIR [--seconds 10]   # V8 CPU profile of one gateway under POST load, summarised
 *
 * Set-up through the API: an org, a P-256 root, an intermediate under it, one managed leaf
 * (ocsp.example.test) from the intermediate. `openssl ocsp -reqout` writes the DER request; one
 * `openssl ocsp -url` round trip must say "Response verify OK" and "good" before anything is loaded.
 * Every loaded target is probed before and after its wrk run: the answer must be 200, an OCSP response
 * with responseStatus successful (0), and byte-identical to the one openssl verified, so no error
 * answer (malformed, unauthorized, tryLater: all HTTP 200) is benchmarked. wrk's bytes read per response
 * are compared with the probe's size as a whole-run cross-check.
 *
 * Creates its own database signet_bench_<hex> and QUEUE_PREFIX; drops the database and deletes the
 * Redis keys at the end, also on failure or Ctrl-C. Peers already running are reused and left running;
 * peers this script started are stopped. About 2.5 minutes. Figures: docs/BENCHMARKS.md.
 */
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Client } = require('pg');
const Redis = require('ioredis');

const argv = process.argv.slice(2);
const arg = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const flag = (name) => argv.includes(`--${name}`);

const ROOT = path.join(__dirname, '..');
const SECONDS = Number(arg('seconds', '10'));
const CONNECTIONS = Number(arg('connections', '64'));
const THREADS = Number(arg('threads', '2'));
const WORKER_COUNTS = arg('workers', '1,2').split(',').map(Number);
const PROFILE_DIR = arg('profile') ? path.resolve(arg('profile')) : null;
const PEERS_DIR = path.resolve(arg('peers', path.join(ROOT, '..', 'shared', 'peers')));
const USE_PEERS = !flag('no-peers') && !PROFILE_DIR;
const USE_CEILING = !flag('no-ceiling') && !PROFILE_DIR;
const CFSSL_OCSP = 'http://127.0.0.1:8890/';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'signet-bench-ocsp-'));
const dbName = `signet_bench_${randomBytes(4).toString('hex')}`;
const serverUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet');
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const adminUrl = new URL(serverUrl);
adminUrl.pathname = '/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = `signet-bench-${randomBytes(4).toString('hex')}`;
const PLATFORM_ADMIN_KEY = `sgn_platform_${randomBytes(32).toString('base64url')}`;

const log = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

// ------------------------------------------------------------------------------------------- processes

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const children = [];

function startService(name, main, env, nodeArgs = []) {
  const out = fs.openSync(path.join(work, `${name}.log`), 'a');
  const child = spawn(process.execPath, [...nodeArgs, main], { env, stdio: ['ignore', out, out] });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.serviceName = name;
  child.spawnedAt = performance.now();
  children.push(child);
  return child;
}

async function waitForHealth(name, child, port, route = '/healthz') {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${tail(name)}`);
    if (await fetch(`http://127.0.0.1:${port}${route}`).then((r) => r.ok, () => false)) return;
    await sleep(100);
  }
  throw new Error(`${name} did not answer ${route} in 30 s: ${tail(name)}`);
}

function tail(name) {
  try {
    return fs.readFileSync(path.join(work, `${name}.log`), 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

async function stopService(child, graceMs = PROFILE_DIR ? 30_000 : 10_000) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.race([child.exited, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function stopServices() {
  await Promise.all(children.map((child) => stopService(child)));
}

// ------------------------------------------------------------------------------------------- CPU split

function processTable() {
  const table = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      table.push({ pid: Number(pid), comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function machineTicks() {
  const [, ...f] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7], all: f.reduce((a, b) => a + b, 0) };
}

/**
 * Ticks by group. wrk is a child of this script and has exited by the time the run is read back, so its
 * CPU comes from this process's children times (process.cpuUsage does not include them: read /proc/self).
 */
function cpuGroups(table) {
  const own = new Map(children.map((c) => [c.pid, c.serviceName]));
  const groups = {};
  const add = (name, ticks) => (groups[name] = (groups[name] || 0) + ticks);
  for (const p of table) {
    if (own.has(p.pid)) add(own.get(p.pid), p.ticks);
    else if (own.has(p.ppid) && p.comm !== 'openssl') add(own.get(p.ppid), p.ticks); // gateway cluster workers
    else if (p.comm === 'postgres') add('postgres', p.ticks);
    else if (p.comm === 'redis-server') add('redis', p.ticks);
    else if (p.comm === 'cfssl') add('cfssl', p.ticks);
  }
  const self = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = self.slice(self.lastIndexOf(')') + 2).split(' ');
  add('wrk', Number(fields[13]) + Number(fields[14])); // cutime + cstime: waited-for children (wrk, openssl, curl)
  return groups;
}

/** Runs `fn` (synchronous) and reports each group's CPU as % of one core over its duration. */
function withCpu(fn) {
  const before = cpuGroups(processTable());
  const machineBefore = machineTicks();
  const t0 = performance.now();
  const result = fn();
  const seconds = (performance.now() - t0) / 1000;
  const after = cpuGroups(processTable());
  const machineAfter = machineTicks();
  const cpu = {};
  for (const [name, ticks] of Object.entries(after)) {
    const used = ticks - (before[name] || 0);
    if (used > 0) cpu[name] = used / seconds; // 100 ticks/s: ticks per second = % of one core
  }
  const accounted = Object.values(cpu).reduce((a, b) => a + b, 0);
  cpu['machine busy'] = ((100 * (machineAfter.busy - machineBefore.busy)) / (machineAfter.all - machineBefore.all)) * os.cpus().length;
  cpu['rest'] = Math.max(0, cpu['machine busy'] - accounted);
  return { ...result, cpu };
}

const cpuLine = (cpu) =>
  Object.entries(cpu)
    .sort((a, b) => (a[0] === 'machine busy') - (b[0] === 'machine busy') || (a[0] === 'rest') - (b[0] === 'rest') || b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(0)}%`)
    .join(', ');

// ------------------------------------------------------------------------------------------------ wrk

const toMs = (text) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text || '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
};
const toBytes = (text) => {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(text || '');
  if (!m) return NaN;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]];
};

/** wrk against a URL; POST with the DER body when given (a lua script like peers' ocsp.lua). */
function wrk(url, body) {
  const args = [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency'];
  if (body) {
    const der = path.join(work, `req-${randomBytes(3).toString('hex')}.der`);
    fs.writeFileSync(der, body);
    const lua = `${der}.lua`;
    fs.writeFileSync(lua, `local f = io.open("${der}", "rb"); local body = f:read("*all"); f:close()\nwrk.method = "POST"; wrk.body = body; wrk.headers["Content-Type"] = "application/ocsp-request"\n`);
    args.push('-s', lua);
  }
  args.push(url);
  const r = spawnSync('wrk', args, { encoding: 'utf8' });
  const out = r.stdout || '';
  const done = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  if (!done) throw new Error(`wrk failed: ${r.stderr || out}`);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1]),
    p90: toMs(/\s90%\s+(\S+)/.exec(out)?.[1]),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1]),
    max: toMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1]),
    requests: Number(done[1]),
    bytesPerResponse: toBytes(done[3]) / Number(done[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sockErr ? sockErr.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
    raw: out,
  };
}

// ---------------------------------------------------------------------------------------------- probes

/** One request on a fresh connection; the status, raw header bytes and body. */
function request(url, method, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent: false, headers: body ? { 'Content-Type': 'application/ocsp-request', 'Content-Length': body.length } : {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let headerBytes = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
          for (let i = 0; i < res.rawHeaders.length; i += 2) headerBytes += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`.length;
          resolve({ status: res.statusCode, headers: res.headers, body, wireBytes: headerBytes + body.length });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** responseStatus of an OCSPResponse (RFC 6960 4.2.1), -1 if it is not one. */
function ocspResponseStatus(der) {
  if (der.length < 5 || der[0] !== 0x30) return -1;
  let i = 1;
  const first = der[i++];
  if (first & 0x80) i += first & 0x7f;
  if (der[i] !== 0x0a || der[i + 1] !== 1) return -1;
  return der[i + 2];
}
const OCSP_STATUS = { 0: 'successful', 1: 'malformedRequest', 2: 'internalError', 3: 'tryLater', 5: 'sigRequired', 6: 'unauthorized' };

/** The answer must be 200, successful, and the very bytes openssl verified. */
async function probe(label, url, method, body, expected) {
  const r = await request(url, method, body);
  const status = ocspResponseStatus(r.body);
  if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
  if (status !== 0) throw new Error(`${label}: OCSP responseStatus ${status} (${OCSP_STATUS[status] ?? 'not an OCSP response'}), ${r.body.length} bytes`);
  if (expected && !r.body.equals(expected)) throw new Error(`${label}: a successful response, but not the one openssl verified`);
  return r;
}

function openssl(args, opts = {}) {
  const r = spawnSync('openssl', args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, out: `${r.stdout || ''}${r.stderr || ''}`.trim() };
}

// ------------------------------------------------------------------------------------------ profiles

/** Self samples by part of the path, package and function, inside `window` (ms since spawn). As in bench/issuance.js. */
function summariseProfiles(dir, window) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (!files.length) return log(`  no profile in ${dir}`);
  const byFunction = new Map();
  const byCategory = new Map();
  const inclusive = new Map();
  let busy = 0;
  let idle = 0;
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
    const self = new Map();
    let at = 0;
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] || 0;
      if (at < window.from * 1000 || at > window.to * 1000) return;
      self.set(id, (self.get(id) || 0) + 1);
    });
    for (const [id, n] of self) {
      const { functionName, url, lineNumber } = nodes.get(id).callFrame;
      if (functionName === '(idle)') {
        idle += n;
        continue;
      }
      busy += n;
      const seen = new Set();
      for (let q = id; q; q = parent.get(q)) {
        const frame = nodes.get(q).callFrame;
        if (!/\/dist\/(apps|libs)\/|node_modules\/(express|router|ioredis)\//.test(frame.url)) continue;
        const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
        if (seen.has(name)) continue;
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) || 0) + n);
      }
      const category = categoryOf(functionName, url);
      byCategory.set(category, (byCategory.get(category) || 0) + n);
      const key = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : 'native'}`;
      byFunction.set(key, (byFunction.get(key) || 0) + n);
    }
  }
  const pct = (n) => `${((100 * n) / busy).toFixed(1).padStart(5)}%`;
  log(`  ${files.length} profile(s); ${fmt(busy)} samples busy, ${fmt(idle)} idle`);
  const parts = new Map();
  for (const [category, n] of byCategory) parts.set(partOf(category), (parts.get(partOf(category)) || 0) + n);
  log('  by part of the path (self samples, % of busy):');
  for (const [name, n] of [...parts].sort((a, b) => b[1] - a[1])) log(`    ${pct(n)}  ${name}`);
  log('  by package (self samples, % of busy):');
  for (const [name, n] of [...byCategory].sort((a, b) => b[1] - a[1]).slice(0, 22)) log(`    ${pct(n)}  ${name}`);
  log('  top functions (self samples, % of busy):');
  for (const [name, n] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 30)) log(`    ${pct(n)}  ${name}`);
  log('  Signet, Express/router and ioredis frames by inclusive samples (the frame and all it called, % of busy):');
  for (const [name, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 20)) log(`    ${pct(n)}  ${name}`);
  log('  (self time of writev/writeUtf8String is the syscall, and on loopback it includes the kernel delivering the bytes');
  log('   to the receiver and waking it: compare with the no-framework references, measured without a profiler)');
}

function shortUrl(url) {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}

const PARTS = [
  [/^npm (express|router|body-parser|raw-body|iconv-lite|on-finished|finalhandler|path-to-regexp|send|qs|content-type|type-is|media-typer|depd|destroy|http-errors|statuses|setprototypeof|mime-types|mime-db|mime|accepts|negotiator|vary|cookie|etag|fresh|parseurl|encodeurl|escape-html|range-parser|proxy-addr|forwarded|ipaddr\.js|utils-merge|merge-descriptors|methods|content-disposition|@nestjs\/(core|common|platform-express|throttler|swagger)|rxjs|reflect-metadata|tslib|iterare|fast-safe-stringify|uid|@lukeed\/.*)$/, 'Express (+ Nest plumbing): req/res helpers, router'],
  [/^node (http|http_server|http_outgoing|http_common|http_incoming|http_agent)$/, 'node:http (JavaScript: headers, parser glue)'],
  [/^npm (pino|pino-http|pino-std-serializers|fast-redact|sonic-boom|thread-stream|on-exit-leak-free|nestjs-pino|safe-stable-stringify|quick-format-unescaped|atomic-sleep|real-require)$/, 'logging (pino)'],
  [/^npm (bullmq|ioredis|redis-parser|redis-errors|denque|cluster-key-slot|standard-as-callback|lodash.*|msgpackr)$/, 'Redis client (ioredis)'],
  [/^npm (typeorm|pg|pg-protocol|pg-pool|pg-types|postgres-.*)$/, 'PostgreSQL client (typeorm, pg)'],
  [/^node crypto$|^native: (digest|update|.*Hash.*)$/, 'hashing (ETag sha1, node:crypto)'],
  [/^signet libs\/pki$/, 'OCSP request parsing (libs/pki)'],
  [/^native: (writev|writeBuffer|writeUtf8String|writeLatin1String|read.*|close|connect)$|^node (net|streams|stream|dns|tcp)$/, 'socket I/O (syscalls, net, streams)'],
  [/^V8 garbage collector$/, 'V8 garbage collector'],
  [/^signet (apps|libs)\//, 'Signet code (pki middleware, store, service lib)'],
  [/^npm prom-client$/, 'metrics (prom-client)'],
];

function partOf(category) {
  for (const [re, name] of PARTS) if (re.test(category)) return name;
  if (/^node /.test(category) || /^native: /.test(category) || /^V8\/native/.test(category)) return 'Node/V8 runtime (events, timers, promises, buffers, program)';
  return 'other';
}

function categoryOf(functionName, url) {
  if (functionName === '(garbage collector)') return 'V8 garbage collector';
  if (functionName === '(program)') return 'V8/native (program)';
  if (!url) return `native: ${functionName || '(anonymous)'}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const dist = /\/dist\/(apps|libs)\/([^/]+)\//.exec(url);
  if (dist) return `signet ${dist[1]}/${dist[2]}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal) return `node ${internal[1].replace(/\.js$/, '').replace(/^_+/, '_').replace(/^_/, '')}`;
  return url;
}

// ---------------------------------------------------------------------------------------------- peers

async function portAnswers(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

let peersStartedHere = false;
async function startPeers() {
  if (await portAnswers(8890)) return;
  const out = path.join(work, 'peers-start.log');
  // Output to a file: nginx daemonises and could keep an inherited pipe open.
  const r = spawnSync('bash', ['-c', `"${path.join(PEERS_DIR, 'start')}" > "${out}" 2>&1`], { stdio: 'ignore' });
  peersStartedHere = true;
  if (r.status !== 0) throw new Error(`peers/start failed: ${fs.readFileSync(out, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
  for (let i = 0; i < 50 && !(await portAnswers(8890)); i++) await sleep(100);
}

const peersDir = () => process.env.PEERS_DIR || path.join(process.env.TMPDIR || '/tmp', 'signet-peers');

// ------------------------------------------------------------------------------------------------ main

async function api(base, method, route, key, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

let cleanedUp = false;
async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  await stopServices().catch(() => undefined);
  if (peersStartedHere) spawnSync(path.join(PEERS_DIR, 'stop'), { stdio: 'ignore' });
  const admin = new Client({ connectionString: adminUrl.toString() });
  await admin
    .connect()
    .then(() => admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).finally(() => admin.end()), () => undefined)
    .catch((err) => log(`could not drop ${dbName}: ${err.message}`));
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = nextCursor;
    } while (cursor !== '0');
  } catch (err) {
    log(`could not delete Redis keys ${QUEUE_PREFIX}:*: ${err.message}`);
  } finally {
    redis.disconnect();
  }
  fs.rmSync(work, { recursive: true, force: true });
}

/**
 * References with no framework: a node:http server (1 or N processes) answering the pre-signed bytes,
 * either straight away ('plain') or after one ioredis GET of the gateway's own cache key per request
 * ('redis'; 'redis-autopipeline': the same with ioredis' enableAutoPipelining, which sends the commands of
 * one event-loop turn in one write, as the gateway does since it answers /pki ahead of Express;
 * 'express-redis': the same GET inside a bare Express app, one app.use middleware, answered with
 * res.status().type().end() as the gateway did while /pki was an Express middleware).
 * They separate what Node, Redis, Express and the rest of the gateway each cost on this machine.
 */
const CEILING_SERVER = `
const cluster = require('node:cluster');
const http = require('node:http');
const fs = require('node:fs');
const [,, port, workers, file, mode, redisUrl, key] = process.argv;
if (cluster.isPrimary && Number(workers) > 1) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
} else {
  const der = fs.readFileSync(file);
  const Redis = require(${JSON.stringify(require.resolve('ioredis'))});
  const redis = mode === 'plain' ? null : new Redis(redisUrl, { enableAutoPipelining: mode === 'redis-autopipeline' });
  const express = mode === 'express-redis' ? require(${JSON.stringify(require.resolve('express'))})() : null;
  const answer = (res) => {
    if (express) return res.status(200).type('application/ocsp-response').end(der); // Express's helpers, as the gateway used them
    res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': der.length });
    res.end(der);
  };
  const handle = (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      if (!redis) return answer(res);
      redis.getBuffer(key).then((v) => (v ? answer(res) : (res.statusCode = 500, res.end())), () => (res.statusCode = 500, res.end()));
    });
  };
  if (express) express.use(handle);
  http.createServer(express || handle).listen(Number(port), '127.0.0.1');
}
`;

function report(label, r) {
  const flags = [];
  if (r.non2xx) flags.push(`non-2xx ${fmt(r.non2xx)}`);
  if (r.socketErrors) flags.push(`socket errors ${fmt(r.socketErrors)}`);
  log(`  ${label.padEnd(52)} ${fmt(r.rps).padStart(7)} /s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms   max ${r.max.toFixed(0).padStart(4)} ms   non-2xx ${fmt(r.non2xx)}${flags.length > 1 || r.socketErrors ? ` (${flags.join(', ')})` : ''}`);
  log(`  ${''.padEnd(52)} ${fmt(r.requests)} responses, ${fmt(r.bytesPerResponse)} bytes each on average (probe: ${r.wireBytes} bytes on the wire, body ${r.bodyBytes})${r.bytesPerResponse < 0.95 * r.wireBytes ? '  <-- SHORT ANSWERS: errors were benchmarked' : ''}`);
  log(`  ${''.padEnd(52)} CPU (% of one core; 200% = the machine): ${cpuLine(r.cpu)}`);
}

async function main() {
  for (const file of ['dist/apps/api-gateway/src/main.js', 'dist/apps/signer/src/main.js', 'dist/libs/persistence/src/cli.js']) {
    if (!fs.existsSync(path.join(ROOT, file))) throw new Error(`${file} is missing: run npm run build first`);
  }
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (../shared/peers/start installs it)');
  const shared = { PATH: process.env.PATH, DATABASE_URL: dbUrl.toString(), REDIS_URL, QUEUE_PREFIX, LOG_LEVEL: arg('log-level', 'warn') };
  const signerPort = await freePort();
  const signerEnv = { ...shared, SIGNER_HEALTH_PORT: String(signerPort), MASTER_KEY: randomBytes(32).toString('base64') };
  const gatewayEnv = (port, workers) => ({
    ...shared,
    PORT: String(port),
    HOST: '127.0.0.1',
    PLATFORM_ADMIN_KEY,
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    GATEWAY_WORKERS: String(workers),
    RATE_LIMIT_GENERAL: '10000000',
    RATE_LIMIT_ISSUE: '10000000',
    RATE_LIMIT_BATCH: '10000000',
  });

  log(`OCSP bench, ${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model.trim()})`);
  log(`  database ${dbName}, QUEUE_PREFIX ${QUEUE_PREFIX}, LOG_LEVEL=${shared.LOG_LEVEL}; wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency`);
  const cli = path.join(ROOT, 'dist/libs/persistence/src/cli.js');
  execFileSync(process.execPath, [cli, 'create-db'], { env: shared, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'run'], { env: shared, stdio: 'ignore' });

  const signer = startService('signer', path.join(ROOT, 'dist/apps/signer/src/main.js'), signerEnv);
  let port = await freePort();
  let gateway = startService('gateway-1', path.join(ROOT, 'dist/apps/api-gateway/src/main.js'), gatewayEnv(port, 1),
    PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, 'gateway')] : []);
  await Promise.all([waitForHealth('signer', signer, signerPort), waitForHealth('gateway-1', gateway, port)]);

  // ---- set-up through the API
  let base = `http://127.0.0.1:${port}`;
  const org = await api(base, 'POST', '/api/v1/platform/orgs', PLATFORM_ADMIN_KEY, { name: 'Bench', slug: `bench-${randomBytes(4).toString('hex')}` });
  const key = org.adminKey;
  const root = (await api(base, 'POST', '/api/v1/cas', key, { name: 'OCSP bench root', subject: { commonName: 'OCSP Bench Root' }, keyAlgorithm: 'ECDSA-P256' })).ca;
  const inter = (await api(base, 'POST', '/api/v1/cas', key, { name: 'OCSP bench intermediate', subject: { commonName: 'OCSP Bench Intermediate' }, keyAlgorithm: 'ECDSA-P256', parentCaId: root.id })).ca;
  const leaf = (await api(base, 'POST', '/api/v1/certificates', key, { caId: inter.id, mode: 'managed', commonName: 'ocsp.example.test', sanDns: ['ocsp.example.test'] })).certificate;
  const files = { root: path.join(work, 'root.pem'), inter: path.join(work, 'intermediate.pem'), leaf: path.join(work, 'leaf.pem'), req: path.join(work, 'req.der') };
  fs.writeFileSync(files.root, (await api(base, 'GET', `/api/v1/cas/${root.id}`, key)).ca.certificatePem);
  fs.writeFileSync(files.inter, (await api(base, 'GET', `/api/v1/cas/${inter.id}`, key)).ca.certificatePem);
  fs.writeFileSync(files.leaf, leaf.certificatePem);
  const reqOut = openssl(['ocsp', '-issuer', files.inter, '-cert', files.leaf, '-no_nonce', '-reqout', files.req]);
  if (!reqOut.ok) throw new Error(`openssl ocsp -reqout: ${reqOut.out}`);
  const reqDer = fs.readFileSync(files.req);
  const getPath = encodeURIComponent(reqDer.toString('base64'));
  log(`  org, P-256 root ${root.id}, intermediate ${inter.id}, leaf ${leaf.serialNumber} (${leaf.commonName}); OCSP request ${reqDer.length} bytes (openssl ocsp -no_nonce -reqout)`);

  // ---- one verified answer: openssl over POST, then the bytes the endpoints must keep answering
  const check = openssl(['ocsp', '-issuer', files.inter, '-cert', files.leaf, '-no_nonce', '-url', `${base}/pki/ocsp`, '-CAfile', files.root, '-respout', path.join(work, 'resp.der')]);
  if (!check.ok || !/Response verify OK/.test(check.out) || !new RegExp(`${files.leaf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: good`).test(check.out)) {
    throw new Error(`openssl ocsp against the gateway did not verify a good status:\n${check.out}`);
  }
  const verified = fs.readFileSync(path.join(work, 'resp.der'));
  log(`  openssl ocsp -url ${base}/pki/ocsp -CAfile root.pem: ${check.out.split('\n').filter((l) => /verify|good|revoked|unknown/.test(l)).map((l) => l.trim()).join('; ')} (response ${verified.length} bytes)`);
  const viaGet = await probe('GET /pki/ocsp/<req>', `${base}/pki/ocsp/${getPath}`, 'GET', null, verified);
  log(`  GET /pki/ocsp/<base64>: the same bytes; Cache-Control: ${viaGet.headers['cache-control']}`);

  const targets = (b) => [
    { name: 'POST /pki/ocsp', url: `${b}/pki/ocsp`, method: 'POST', body: reqDer },
    { name: 'GET /pki/ocsp/<base64>', url: `${b}/pki/ocsp/${getPath}`, method: 'GET', body: null },
  ];
  const results = {};
  const load = async (label, t, expected) => {
    const before = await probe(`${label} (before)`, t.url, t.method, t.body, expected);
    const r = withCpu(() => wrk(t.url, t.body));
    await probe(`${label} (after)`, t.url, t.method, t.body, expected);
    Object.assign(r, { wireBytes: before.wireBytes, bodyBytes: before.body.length });
    report(label, r);
    results[label] = r;
    await sleep(500);
    return r;
  };

  if (PROFILE_DIR) {
    log(`\nprofile: gateway, GATEWAY_WORKERS=1, --cpu-prof (${path.join(PROFILE_DIR, 'gateway')})`);
    const from = performance.now() - gateway.spawnedAt;
    await load('POST /pki/ocsp, profiled', targets(base)[0], verified);
    const to = performance.now() - gateway.spawnedAt;
    await stopService(gateway);
    summariseProfiles(path.join(PROFILE_DIR, 'gateway'), { from, to });
    return;
  }

  // ---- the gateway, 1 and 2 processes
  for (const workers of WORKER_COUNTS) {
    if (workers !== 1 || gateway.exitCode !== null) {
      await stopService(gateway);
      port = await freePort();
      base = `http://127.0.0.1:${port}`;
      gateway = startService(`gateway-${workers}`, path.join(ROOT, 'dist/apps/api-gateway/src/main.js'), gatewayEnv(port, workers));
      await waitForHealth(`gateway-${workers}`, gateway, port);
    }
    log(`\nSignet gateway, GATEWAY_WORKERS=${workers} (OCSP answered by node:http ahead of Express, from the Redis cache; one signer idle)`);
    // Warm-up: JIT, the CA's issuer hashes, every worker's first look-up.
    spawnSync('wrk', ['-t1', '-c8', '-d2s', `${base}/pki/ocsp/${getPath}`], { stdio: 'ignore' });
    for (const t of targets(base)) await load(`${t.name}, ${workers} proc.`, t, verified);
  }
  await stopServices(); // the peers run alone, as in bench/issuance.js

  // ---- references, same wrk settings
  if (USE_CEILING) {
    fs.writeFileSync(path.join(work, 'ceiling.js'), CEILING_SERVER);
    const cacheKey = `${QUEUE_PREFIX}:ocsp:${leaf.serialNumber}`;
    log('\nreferences: node:http answering the same pre-signed bytes, no Express (plain; after one ioredis GET of the cache key per request; the same in a bare Express app)');
    const runs = [
      ...WORKER_COUNTS.map((w) => ['plain', w]),
      ...WORKER_COUNTS.map((w) => ['redis', w]),
      ['redis-autopipeline', Math.max(...WORKER_COUNTS)],
      ...WORKER_COUNTS.map((w) => ['express-redis', w]),
    ];
    const labels = { plain: '', redis: ' + Redis GET', 'redis-autopipeline': ' + Redis GET autopipelined', 'express-redis': ' + Redis GET, bare Express app' };
    for (const [mode, workers] of runs) {
      const p = await freePort();
      const server = spawn(process.execPath, [path.join(work, 'ceiling.js'), String(p), String(workers), path.join(work, 'resp.der'), mode, REDIS_URL, cacheKey], { stdio: 'ignore' });
      server.exited = new Promise((resolve) => server.on('exit', resolve));
      server.serviceName = `node-http-${mode}-${workers}`;
      children.push(server);
      for (let i = 0; i < 50 && !(await portAnswers(p)); i++) await sleep(100);
      await load(`POST, node:http${labels[mode]} ${workers} proc.`, { url: `http://127.0.0.1:${p}/`, method: 'POST', body: reqDer }, verified);
      await stopService(server, 2000);
    }
  }
  if (USE_PEERS) {
    await startPeers();
    const pd = peersDir();
    const peerReq = fs.readFileSync(path.join(pd, 'ocsp-req.der'));
    const peerCheck = openssl(['ocsp', '-reqin', path.join(pd, 'ocsp-req.der'), '-url', CFSSL_OCSP, '-CAfile', path.join(pd, 'ca.pem'), '-VAfile', path.join(pd, 'ca.pem'), '-resp_text', '-respout', path.join(work, 'cfssl-resp.der')]);
    if (!peerCheck.ok || !/Response verify OK/.test(peerCheck.out) || !/Cert Status: good/.test(peerCheck.out)) throw new Error(`openssl ocsp against cfssl ocspserve:\n${peerCheck.out}`);
    const peerVerified = fs.readFileSync(path.join(work, 'cfssl-resp.der'));
    log(`\ncfssl ocspserve (${peersStartedHere ? 'started by this run' : 'already running'}, ${CFSSL_OCSP}): openssl says ${peerCheck.out.split('\n').filter((l) => /verify OK|Cert Status/.test(l)).map((l) => l.trim()).join('; ')}; response ${peerVerified.length} bytes`);
    spawnSync('wrk', ['-t1', '-c8', '-d2s', '-s', path.join(pd, 'ocsp.lua'), CFSSL_OCSP], { stdio: 'ignore' });
    await load('POST /, cfssl ocspserve', { url: CFSSL_OCSP, method: 'POST', body: peerReq }, peerVerified);
    // GET is loaded only if this cfssl build answers it (Debian's 1.2.0+git20160825 base64-decodes the path
    // with its leading '/' and turns '+' into ' ': 400 for every request).
    const peerGet = `${CFSSL_OCSP}${encodeURIComponent(peerReq.toString('base64'))}`;
    const getProbe = await request(peerGet, 'GET', null);
    if (getProbe.status === 200 && ocspResponseStatus(getProbe.body) === 0) {
      await load('GET /<base64>, cfssl ocspserve', { url: peerGet, method: 'GET', body: null }, peerVerified);
    } else {
      log(`  GET /<base64>, cfssl ocspserve: HTTP ${getProbe.status} to a well-formed GET (this cfssl build cannot decode GET requests); not loaded, GET ratios below use cfssl's POST`);
    }
  }

  // ---- summary
  log('\nsummary (responses/s; target >= 10,000 /s)');
  const cf = { POST: results['POST /, cfssl ocspserve'], GET: results['GET /<base64>, cfssl ocspserve'] ?? results['POST /, cfssl ocspserve'] };
  for (const [label, r] of Object.entries(results)) {
    const kind = label.startsWith('POST') ? 'POST' : 'GET';
    const ratio = cf[kind] && !label.includes('cfssl') ? `, ${(r.rps / cf[kind].rps).toFixed(2)}x cfssl ${results['GET /<base64>, cfssl ocspserve'] ? kind : 'POST'}` : '';
    const serverCpu = Object.entries(r.cpu).find(([n]) => /^(gateway|node-http|cfssl)/.test(n));
    const perResponse = serverCpu ? `, server CPU ${((serverCpu[1] * 10_000) / r.rps).toFixed(0)} us/response` : '';
    const target = label.includes('proc.') && !label.includes('node:http') ? (r.rps >= 10_000 ? ' [target met]' : ' [target NOT met]') : '';
    log(`  ${label.padEnd(52)} ${fmt(r.rps).padStart(7)} /s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  non-2xx ${r.non2xx}${ratio}${perResponse}${target}`);
  }
}

process.stdout.on('error', () => undefined);
process.once('SIGINT', () => {
  log('\ninterrupted: cleaning up');
  cleanup().finally(() => process.exit(130));
});

main()
  .then(cleanup, async (error) => {
    process.stderr.write(`bench/ocsp.js: ${error.stack || error}\n`);
    for (const child of children) process.stderr.write(`  ${child.serviceName} log: ${tail(child.serviceName)}\n`);
    await cleanup();
    process.exitCode = 1;
  })
  .then(() => process.exit());
