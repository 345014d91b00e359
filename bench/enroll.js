#!/usr/bin/env node
/**
 * Enrollment on the mTLS port: enrollments/s with a full TLS handshake per enrollment (no session reuse,
 * P-256 everywhere), with p50/p99; then handshakes alone with `openssl s_time -new` (three clients at
 * once), against our enroll server and, in the same run, nginx with `ssl_verify_client on` and no session
 * reuse (../shared/peers/start, run only when nginx does not answer on 9443, and then stopped at the end).
 * Built gateway, signer and enroll processes, its own database and queue prefix, removed at the end, also
 * on failure or Ctrl-C.
 *
 *   npm run build && node bench/enroll.js [--seconds 10] [--connections 16] [--stime-seconds 10] [--loaders 1]
 *     [--coalesce-ms N]  the enroll server's ISSUE_COALESCE_MS (default: its own)
 *     [--workers N]     the enroll server's ENROLL_WORKERS (node:cluster; their CPU counts as enroll's)
 *     [--profile DIR]   also write a V8 CPU profile of the enroll process and print its top functions
 *
 * Beside the enrollment rate it prints the CPU each process used during the measured run (from /proc:
 * enroll, signer, gateway, PostgreSQL, Redis, the loader, and what the rest of the machine did), and
 * that CPU per enrollment. `--loaders N` spreads the clients over N worker threads of this process.
 * Each loader builds its client TLS context once; `--fresh-context` builds one per request instead (the
 * loader before 2026-11-29, which cost the loader ~2x the CPU per enrollment).
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const tls = require('node:tls');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, sleep, machineLine, freePort, portAnswers, createCa, createRun } = require('./lib/harness');
const { processTable, machineTicks } = require('./lib/cpu');
const { createPeers, peersDataDir } = require('./lib/peers');

const { arg, flag } = parseArgs();
const SECONDS = Number(arg('seconds', '10'));
const CONNECTIONS = Number(arg('connections', '16'));
const STIME_SECONDS = arg('stime-seconds', '10');
const PEERS = path.resolve(ROOT, arg('peers', '../shared/peers'));
const LOADERS = Number(arg('loaders', '1'));
const FRESH_CONTEXT = flag('fresh-context');
const PROFILE_DIR = arg('profile', null) && path.resolve(arg('profile'));
// Its own database, QUEUE_PREFIX and folder, removed at the end, also on failure or Ctrl-C (lib/harness.js);
// not in the loader threads, which run this file too.
const run = isMainThread ? createRun('enroll') : null;
const work = run?.work;
const dbName = run?.dbName;
const children = run?.children ?? [];
const peers = run && createPeers(run, PEERS);
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main() {
  log(`enroll bench, ${machineLine()}`);
  run.requireBuild();
  const shared = run.sharedEnv('warn');
  run.createDatabase(shared);
  const [gatewayPort, httpsPort, signerPort, enrollPort, enrollHealth] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const signer = run.startService('signer', SIGNER_MAIN, run.signerEnv(shared, signerPort));
  const gateway = run.startService('gateway', GATEWAY_MAIN, { ...shared, PORT: String(gatewayPort), HTTPS_PORT: String(httpsPort), HOST: '127.0.0.1', PLATFORM_ADMIN_KEY: run.platformAdminKey, RATE_LIMIT_GENERAL: '10000000', RATE_LIMIT_ISSUE: '10000000' });
  await run.waitForHealth('signer', signer, signerPort);
  await run.waitForHealth('gateway', gateway, gatewayPort);
  const base = `http://127.0.0.1:${gatewayPort}`;
  const api = async (method, p, body, key) => {
    const res = await fetch(`${base}${p}`, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const adminKey = await run.createOrg(base);
  const ca = (cn) => createCa(base, adminKey, { name: cn, subject: { commonName: cn } });
  const serverCa = await ca('Enroll Server CA');
  const bootstrap = await ca('Bootstrap CA');
  const devices = await ca('Device CA');
  await api('POST', '/api/v1/enrollment-policies', { name: 'bench', trustedCaIds: [bootstrap.id], issuingCaId: devices.id, subjectRule: 'any' }, adminKey);
  const device = await api('POST', '/api/v1/certificates', { caId: bootstrap.id, commonName: 'bench-device', usage: 'client' }, adminKey);
  fs.writeFileSync(path.join(work, 'device.pem'), device.certificate.certificatePem);
  fs.writeFileSync(path.join(work, 'device.key'), device.privateKey);
  fs.writeFileSync(path.join(work, 'server-ca.pem'), serverCa.certificatePem);
  const enroll = run.startService('enroll', 'dist/apps/enroll/src/main.js', {
    ...shared, ENROLL_PORT: String(enrollPort), ENROLL_HEALTH_PORT: String(enrollHealth), ENROLL_TLS_CA_ID: serverCa.id, ENROLL_RATE_LIMIT: '1000000',
    ...(arg('coalesce-ms', null) ? { ISSUE_COALESCE_MS: arg('coalesce-ms') } : {}),
    ...(arg('workers', null) ? { ENROLL_WORKERS: arg('workers') } : {}),
  }, PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []);
  enroll.startedAt = performance.now();
  await run.waitForHealth('enroll', enroll, enrollHealth);
  for (let i = 0; i < 100 && spawnSync('curl', ['-sk', '--max-time', '1', `https://127.0.0.1:${enrollPort}`]).status === 7; i++) await sleep(100);

  // A pool of P-256 CSRs made by openssl, reused round-robin (each enrollment gets a new serial anyway).
  const csrs = [];
  for (let i = 0; i < 64; i++) {
    const r = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', `/CN=bench-${i}`], { encoding: 'utf8' });
    csrs.push(r.stdout);
  }
  const client = {
    port: enrollPort, csrs, freshContext: FRESH_CONTEXT,
    cert: fs.readFileSync(path.join(work, 'device.pem'), 'utf8'), key: fs.readFileSync(path.join(work, 'device.key'), 'utf8'), ca: fs.readFileSync(path.join(work, 'server-ca.pem'), 'utf8'),
  };
  const load = async (seconds) => {
    const shares = Array.from({ length: LOADERS }, (_, i) => Math.floor(CONNECTIONS / LOADERS) + (i < CONNECTIONS % LOADERS ? 1 : 0));
    const parts = LOADERS === 1
      ? [await loadLoop({ ...client, connections: CONNECTIONS, seconds })]
      : await Promise.all(shares.map((connections) => new Promise((resolve, reject) => {
        const worker = new Worker(__filename, { workerData: { ...client, connections, seconds } });
        worker.once('message', resolve);
        worker.once('error', reject);
      })));
    const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
    const sum = (k) => parts.reduce((a, p) => a + p[k], 0);
    return { rate: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ok: latencies.length, errors: sum('errors'), reused: sum('reused') };
  };
  await load(2);
  const before = cpuSnapshot();
  const result = await load(SECONDS);
  const cpu = cpuSince(before);
  log(`\nenrollments, ${CONNECTIONS} concurrent${LOADERS > 1 ? ` over ${LOADERS} loader threads` : ''}${arg('workers', null) ? `, ENROLL_WORKERS=${arg('workers')}` : ''}, full TLS 1.3 handshake each (session reuse: ${result.reused}), ${SECONDS} s`);
  log(`  ${result.rate.toFixed(0)} /s   p50 ${result.p50.toFixed(1)} ms   p99 ${result.p99.toFixed(1)} ms   (ok ${result.ok}, errors ${result.errors})`);
  log(`  CPU, % of one core (200% = the machine): ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')}`);
  log(`  CPU per enrollment: ${Object.entries(cpu).filter(([k]) => k !== 'machine busy').map(([k, v]) => `${k} ${(v * 10 / result.rate).toFixed(2)} ms`).join(', ')}`);
  if (PROFILE_DIR) {
    const enroll = children.find((c) => c.serviceName === 'enroll');
    enroll.kill('SIGTERM');
    await enroll.exited;
    summariseProfile(PROFILE_DIR, before.at - enroll.startedAt, performance.now() - enroll.startedAt);
  }

  // Handshakes alone: three `openssl s_time -new` clients at once, ours and nginx's (peers/start).
  const stime = async (port, certFile, keyFile, caFile) => {
    const runs = Array.from({ length: 3 }, () => new Promise((resolve) => {
      const child = spawn('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-cert', certFile, '-key', keyFile, '-CAfile', caFile, '-time', STIME_SECONDS], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('close', () => resolve(out));
    }));
    const outs = await Promise.all(runs);
    return outs.reduce((sum, out) => sum + Number((/(\d+) connections in [\d.]+s/.exec(out) ?? [0, 0])[1]), 0) / Number(STIME_SECONDS);
  };
  const beforeStime = cpuSnapshot();
  const ours = PROFILE_DIR ? 0 : await stime(enrollPort, path.join(work, 'device.pem'), path.join(work, 'device.key'), path.join(work, 'server-ca.pem'));
  const stimeCpu = cpuSince(beforeStime);
  log(`\nfull mTLS handshakes, 3 x openssl s_time -new, ${STIME_SECONDS} s`);
  log(`  Signet enroll: ${ours.toFixed(0)} /s   (enroll process ${stimeCpu.enroll?.toFixed(0)}% of a core = ${((stimeCpu.enroll ?? 0) * 10 / ours).toFixed(2)} ms per handshake; machine busy ${stimeCpu['machine busy'].toFixed(0)}%)`);
  let nginx = null;
  if (fs.existsSync(path.join(PEERS, 'start'))) {
    if (!(await portAnswers(9443))) peers.start();
    const d = peersDataDir();
    nginx = await stime(9443, path.join(d, 'dev.pem'), path.join(d, 'dev-key.pem'), path.join(d, 'ca.pem'));
    log(`  nginx, ssl_verify_client on, no session reuse: ${nginx.toFixed(0)} /s   (Signet / nginx = ${(ours / nginx).toFixed(2)}x)`);
  }
  log(`\nsummary: ${result.rate.toFixed(0)} enrollments/s (p99 ${result.p99.toFixed(1)} ms), target >= 300 /s: ${result.rate >= 300 ? 'met' : 'NOT met'}; handshakes ${ours.toFixed(0)} /s${nginx ? `, nginx ${nginx.toFixed(0)} /s` : ''}`);
}

/** Enrollments on `connections` concurrent clients for `seconds`: a fresh agent per request, no session cache. */
async function loadLoop({ port, cert, key, ca, csrs, connections, seconds, freshContext }) {
  // One TLS context (client certificate, key, trust) for every connection, as a device has: building it
  // per request (what passing cert/key/ca to https.request does) costs the loader more than the handshake.
  const tlsOptions = freshContext ? { cert, key, ca } : { secureContext: tls.createSecureContext({ cert, key, ca }) };
  const enrollOnce = (i) => new Promise((resolve) => {
    const started = performance.now();
    const req = https.request({
      host: '127.0.0.1', port, path: '/v1/enroll', method: 'POST', ...tlsOptions, servername: 'localhost',
      agent: new https.Agent({ keepAlive: false, maxCachedSessions: 0 }), headers: { 'Content-Type': 'application/pkcs10' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 201, ms: performance.now() - started, reused: req.socket?.isSessionReused?.() }));
    });
    req.on('error', () => resolve({ ok: false, ms: performance.now() - started }));
    req.end(csrs[i % csrs.length]);
  });
  const latencies = [];
  let errors = 0;
  let reused = 0;
  let n = Math.floor(Math.random() * csrs.length);
  const until = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < until) {
      const r = await enrollOnce(n++);
      if (r.ok) latencies.push(r.ms); else errors++;
      if (r.reused) reused++;
    }
  }));
  return { latencies, errors, reused };
}

/** CPU ticks of our children, PostgreSQL backends, Redis, this loader (all its threads) and the machine. */
function cpuSnapshot() {
  const ticks = {};
  const own = new Map(children.map((c) => [c.pid, c.serviceName]));
  for (const { pid, ppid, comm, ticks: used } of processTable()) {
    // A child of ours (enroll's cluster workers; not openssl) counts as its parent.
    let group = own.get(pid) ?? (comm !== 'openssl' ? own.get(ppid) : undefined) ?? (pid === process.pid ? 'loader' : { postgres: 'postgres', 'redis-server': 'redis' }[comm]);
    // Backends of other databases (other people's work on the machine) count as the rest.
    if (group === 'postgres' && / postgres \S+ \S+\(\d+\)/.test(readTitle(pid)) && !readTitle(pid).includes(dbName)) group = undefined;
    if (group) ticks[group] = (ticks[group] ?? 0) + used;
  }
  const { busy, all } = machineTicks();
  return { ticks, busy, all, at: performance.now() };
}

function readTitle(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** % of one core per group since `before`, the machine's busy share, and the rest (kernel, other processes). */
function cpuSince(before) {
  const after = cpuSnapshot();
  const seconds = (after.at - before.at) / 1000;
  const out = {};
  for (const [group, t] of Object.entries(after.ticks)) out[group] = (t - (before.ticks[group] ?? 0)) / seconds; // 100 ticks/s: ticks/s = %
  const busy = (100 * os.cpus().length * (after.busy - before.busy)) / (after.all - before.all);
  out.rest = Math.max(0, busy - Object.values(out).reduce((a, b) => a + b, 0));
  out['machine busy'] = busy;
  return out;
}

/** Self samples of the enroll profile within [from, to] ms of its start, by package and by function. */
function summariseProfile(dir, from, to) {
  const file = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byPackage = new Map();
  const byFunction = new Map();
  let busy = 0;
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] / 1000;
    const { functionName, url, lineNumber } = nodes.get(id);
    if (at < from || at > to || functionName === '(idle)') return;
    busy++;
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? /\/dist\/((apps|libs)\/[^/]+)/.exec(url)?.[1] ?? (/^node:(internal\/)?([^/.]+)/.exec(url)?.[2] && `node ${/^node:(internal\/)?([^/.]+)/.exec(url)[2]}`) ?? `native ${functionName}`;
    const fn = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*(node_modules|dist)\//, '')}:${lineNumber + 1}` : ''}`;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + 1);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1);
  });
  log(`\nprofile of enroll (${file}), measured run only, ${busy} busy samples; self time:`);
  for (const [title, map, n] of [['by package', byPackage, 20], ['by function', byFunction, 30]]) {
    log(`  ${title}:`);
    for (const [k, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) log(`    ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
  }
}

if (!isMainThread) loadLoop(workerData).then((r) => parentPort.postMessage(r));
else {
  run.main('bench/enroll.js', main, (error) => {
    log(`failed: ${error.stack ?? error}`);
    for (const name of ['signer', 'gateway', 'enroll']) if (fs.existsSync(path.join(work, `${name}.log`))) log(`--- ${name}.log\n${fs.readFileSync(path.join(work, `${name}.log`), 'utf8').slice(-2000)}`);
  });
}
