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
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const harness = require('./lib/harness');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, sleep, fmt, machineLine, freePort, portAnswers, createCa, createRun } = harness;
const { cpuGroups, cpuSnapshot, cpuSince } = require('./lib/cpu');
const { createPeers, peersDataDir } = require('./lib/peers');
const { shortUrl, selfSamples, printSelfSamples } = require('./lib/profile');
const { runWrk, wrkInstalled } = require('./lib/wrk');

const { arg, flag } = parseArgs();
const SECONDS = Number(arg('seconds', '10'));
const CONNECTIONS = Number(arg('connections', '64'));
const THREADS = Number(arg('threads', '2'));
const WORKER_COUNTS = arg('workers', '1,2').split(',').map(Number);
const PROFILE_DIR = arg('profile') ? path.resolve(arg('profile')) : null;
const PEERS_DIR = path.resolve(arg('peers', path.join(ROOT, '..', 'shared', 'peers')));
const USE_PEERS = !flag('no-peers') && !PROFILE_DIR;
const USE_CEILING = !flag('no-ceiling') && !PROFILE_DIR;
const CFSSL_OCSP = 'http://127.0.0.1:8890/';

// Its own database, QUEUE_PREFIX and folder, removed at the end (lib/harness.js).
const run = createRun('ocsp');
// A profiled process must exit on its own to write its profile.
run.stopGraceMs = PROFILE_DIR ? 30_000 : 10_000;
const { work, dbName, children, stopService, queuePrefix: QUEUE_PREFIX, redisUrl: REDIS_URL } = run;
const peers = createPeers(run, PEERS_DIR);

// ------------------------------------------------------------------------------------------- CPU split

/**
 * Ticks by group. wrk is a child of this script and has exited by the time the run is read back, so its
 * CPU comes from this process's children times (process.cpuUsage does not include them: read /proc/self).
 */
function groupsOf(table) {
  const groups = cpuGroups(table, children);
  const self = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = self.slice(self.lastIndexOf(')') + 2).split(' ');
  groups.wrk = (groups.wrk || 0) + Number(fields[13]) + Number(fields[14]); // cutime + cstime: waited-for children (wrk, openssl, curl)
  return groups;
}

/** Runs `fn` (synchronous) and reports each group's CPU as % of one core over its duration. */
function withCpu(fn) {
  const before = cpuSnapshot(groupsOf);
  const result = fn();
  const { cpu, accounted } = cpuSince(before, groupsOf);
  cpu['rest'] = Math.max(0, cpu['machine busy'] - accounted);
  return { ...result, cpu };
}

const cpuLine = (cpu) =>
  Object.entries(cpu)
    .sort((a, b) => (a[0] === 'machine busy') - (b[0] === 'machine busy') || (a[0] === 'rest') - (b[0] === 'rest') || b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(0)}%`)
    .join(', ');

// ------------------------------------------------------------------------------------------------ wrk

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
  const r = runWrk(args);
  if (!r.done) throw new Error(`wrk failed: ${r.stderr || r.raw}`);
  const { rps, p50, p90, p99, max, requests, bytesPerResponse, non2xx, socketErrors, raw } = r;
  return { rps, p50, p90, p99, max, requests, bytesPerResponse, non2xx, socketErrors, raw };
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
  const inclusive = new Map();
  const visit = (id, n, nodes, parent) => {
    const seen = new Set();
    for (let q = id; q; q = parent.get(q)) {
      const frame = nodes.get(q).callFrame;
      if (!/\/dist\/(apps|libs)\/|node_modules\/(express|router|ioredis)\//.test(frame.url)) continue;
      const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) || 0) + n);
    }
  };
  // node:_http_server.js -> "node http_server" (one leading underscore dropped)
  const samples = selfSamples(dir, window, (file) => file.replace(/^_+/, '_').replace(/^_/, ''), visit);
  if (!samples) return;
  printSelfSamples(samples, PARTS, 30);
  const { pct } = samples;
  log('  Signet, Express/router and ioredis frames by inclusive samples (the frame and all it called, % of busy):');
  for (const [name, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 20)) log(`    ${pct(n)}  ${name}`);
  log('  (self time of writev/writeUtf8String is the syscall, and on loopback it includes the kernel delivering the bytes');
  log('   to the receiver and waking it: compare with the no-framework references, measured without a profiler)');
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


// ---------------------------------------------------------------------------------------------- peers

/** Starts the peers unless cfssl ocspserve answers already. */
async function startPeers() {
  if (await portAnswers(8890)) return;
  peers.start();
  for (let i = 0; i < 50 && !(await portAnswers(8890)); i++) await sleep(100);
}

// ------------------------------------------------------------------------------------------------ main

/** An API call that must succeed: its JSON body. */
async function api(base, method, route, key, body) {
  const { status, json } = await harness.api(base, method, route, key, body);
  if (status >= 300) throw new Error(`${method} ${route}: ${status} ${JSON.stringify(json)}`);
  return json;
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
  run.requireBuild();
  if (!wrkInstalled()) throw new Error('wrk is not installed (../shared/peers/start installs it)');
  const shared = run.sharedEnv(arg('log-level', 'warn'));
  const signerPort = await freePort();
  const signerEnv = run.signerEnv(shared, signerPort);
  // Its HTTPS listener on a port of its own: another stack on this machine may hold the default 3443.
  const httpsPort = await freePort();
  const gatewayEnv = (port, workers) => run.gatewayEnv(shared, port, workers, { HTTPS_PORT: String(httpsPort) });

  log(`OCSP bench, ${machineLine()}`);
  log(`  database ${dbName}, QUEUE_PREFIX ${QUEUE_PREFIX}, LOG_LEVEL=${shared.LOG_LEVEL}; wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency`);
  run.createDatabase(shared);

  const signer = run.startService('signer', SIGNER_MAIN, signerEnv);
  let port = await freePort();
  let gateway = run.startService('gateway-1', GATEWAY_MAIN, gatewayEnv(port, 1),
    PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, 'gateway')] : []);
  await Promise.all([run.waitForHealth('signer', signer, signerPort), run.waitForHealth('gateway-1', gateway, port)]);

  // ---- set-up through the API
  let base = `http://127.0.0.1:${port}`;
  const key = await run.createOrg(base);
  const root = await createCa(base, key, { name: 'OCSP bench root', subject: { commonName: 'OCSP Bench Root' }, keyAlgorithm: 'ECDSA-P256' });
  const inter = await createCa(base, key, { name: 'OCSP bench intermediate', subject: { commonName: 'OCSP Bench Intermediate' }, keyAlgorithm: 'ECDSA-P256', parentCaId: root.id });
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
      gateway = run.startService(`gateway-${workers}`, GATEWAY_MAIN, gatewayEnv(port, workers));
      await run.waitForHealth(`gateway-${workers}`, gateway, port);
    }
    log(`\nSignet gateway, GATEWAY_WORKERS=${workers} (OCSP answered by node:http ahead of Express, from the Redis cache; one signer idle)`);
    // Warm-up: JIT, the CA's issuer hashes, every worker's first look-up.
    spawnSync('wrk', ['-t1', '-c8', '-d2s', `${base}/pki/ocsp/${getPath}`], { stdio: 'ignore' });
    for (const t of targets(base)) await load(`${t.name}, ${workers} proc.`, t, verified);
  }
  await run.stopServices(); // the peers run alone, as in bench/issuance.js

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
      run.adopt(server, `node-http-${mode}-${workers}`);
      for (let i = 0; i < 50 && !(await portAnswers(p)); i++) await sleep(100);
      await load(`POST, node:http${labels[mode]} ${workers} proc.`, { url: `http://127.0.0.1:${p}/`, method: 'POST', body: reqDer }, verified);
      await stopService(server, 2000);
    }
  }
  if (USE_PEERS) {
    await startPeers();
    const pd = peersDataDir();
    const peerReq = fs.readFileSync(path.join(pd, 'ocsp-req.der'));
    const peerCheck = openssl(['ocsp', '-reqin', path.join(pd, 'ocsp-req.der'), '-url', CFSSL_OCSP, '-CAfile', path.join(pd, 'ca.pem'), '-VAfile', path.join(pd, 'ca.pem'), '-resp_text', '-respout', path.join(work, 'cfssl-resp.der')]);
    if (!peerCheck.ok || !/Response verify OK/.test(peerCheck.out) || !/Cert Status: good/.test(peerCheck.out)) throw new Error(`openssl ocsp against cfssl ocspserve:\n${peerCheck.out}`);
    const peerVerified = fs.readFileSync(path.join(work, 'cfssl-resp.der'));
    log(`\ncfssl ocspserve (${peers.startedHere ? 'started by this run' : 'already running'}, ${CFSSL_OCSP}): openssl says ${peerCheck.out.split('\n').filter((l) => /verify OK|Cert Status/.test(l)).map((l) => l.trim()).join('; ')}; response ${peerVerified.length} bytes`);
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

run.main('bench/ocsp.js', main);
