#!/usr/bin/env node
/**
 * Measures the seeded inventory (bench/inventory/seed.js) through the built gateway's HTTP API:
 *
 *   npm run build && node bench/inventory/measure.js [--state /var/tmp/signet-inventory/state.json]
 *       [--samples 20] [--issue-seconds 15] [--connections 16] [--no-issuance] [--only list|search|stats|issuance]
 *
 * - start-up: spawn to /readyz of the gateway and to /healthz of the signer, on the inventory's database.
 * - list: each filter (default sort), each sort and order (no filter), first page and page 1,000 (pageSize
 *   20): by page number (OFFSET, with the exact total) and by cursor (the cursor of the row before page
 *   1,000, made with the gateway's own encodeCursor from the row the database puts there).
 * - search: common-name and DNS-SAN substrings, a whole and a partial serial, a fingerprint, a CA's name,
 *   an outside issuer's name, a miss.
 * - stats: the org and one CA, the first call and the ones after it.
 * - issuance: CSR-mode P-256 through gateway -> queue -> signer -> PostgreSQL, closed loop, into the
 *   inventory's org and CA and, in the same run, into a new empty database (its own org and CA).
 * Each figure is `samples` sequential requests after one warm-up: p50 and p95 in ms. The certificates
 * issued stay in the inventory (a few thousand beside millions).
 */
'use strict';
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { promisify } = require('node:util');
const { Client } = require('pg');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, fmt, percentile, machineLine, freePort, createCa, createRun } = require('../lib/harness');

const { arg, flag } = parseArgs();
const STATE = path.resolve(arg('state', '/var/tmp/signet-inventory/state.json'));
const SAMPLES = Number(arg('samples', '20'));
const ISSUE_SECONDS = Number(arg('issue-seconds', '15'));
const CONNECTIONS = Number(arg('connections', '16'));
const ONLY = arg('only', null);
const state = JSON.parse(fs.readFileSync(STATE, 'utf8'));
const run = createRun('inventory-measure');
const serverUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet');
const inventoryUrl = new URL(serverUrl);
inventoryUrl.pathname = `/${state.db}`;

// The gateway's own cursor code, so the bench's cursors are the ones a client gets.
const paging = require(path.join(ROOT, 'dist/apps/api-gateway/src/app/paging.js'));
const listDto = require(path.join(ROOT, 'dist/apps/api-gateway/src/app/certificates/list-certificates.dto.js'));
const hasCursor = typeof paging.encodeCursor === 'function';

async function timed(fn) {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** p50 / p95 of `samples` sequential GETs after one warm-up; throws unless 200. */
async function measureGet(base, route, samples = SAMPLES) {
  const once = async () => {
    const res = await fetch(`${base}${route}`, { headers: { Authorization: `Bearer ${state.orgKey}` } });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`GET ${route}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const first = await timed(once);
  const times = [];
  let body;
  for (let i = 0; i < samples; i++) times.push(await timed(async () => (body = await once())));
  times.sort((a, b) => a - b);
  return { first, p50: percentile(times, 0.5), p95: percentile(times, 0.95), body };
}

const row = (label, r, extra = '') => log(`  ${label.padEnd(58)} ${fmt(r.p50, 1).padStart(8)} ${fmt(r.p95, 1).padStart(8)} ${fmt(r.first, 1).padStart(9)}  ${extra}`);
const header = () => log(`  ${''.padEnd(58)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'first ms'.padStart(9)}`);

/** The sort key and id of the row at `offset` in the list's order, as certificatesPage writes a cursor's position. */
async function positionAt(db, sortBy, sortOrder, where, offset) {
  const key = {
    createdAt: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    validTo: `to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    commonName: 'lower(common_name)',
  }[sortBy];
  const column = { createdAt: 'created_at', validTo: 'valid_to', commonName: 'lower(common_name)' }[sortBy];
  const order = sortOrder === 'asc' ? 'ASC' : 'DESC';
  const { rows } = await db.query(
    `SELECT ${key} AS key, id FROM certificates WHERE org_id = $1 ${where} ORDER BY ${column} ${order}, id ${order} OFFSET $2 LIMIT 1`,
    [state.orgId, offset],
  );
  return rows[0];
}

const NINETY_DAYS_AGO = new Date(Date.now() - 90 * 86_400_000).toISOString();
const LIST_FILTERS = [
  ['none', '', ''],
  ['status=active', 'status=active', `AND status = 'active' AND valid_to > now()`],
  ['status=expiring (30 days)', 'status=expiring', `AND status = 'active' AND valid_to > now() AND valid_to <= now() + interval '30 days'`],
  ['status=expired', 'status=expired', `AND status = 'active' AND valid_to <= now()`],
  ['status=revoked', 'status=revoked', `AND status = 'revoked'`],
  ['caId (Acme Issuing CA 2)', () => `caId=${state.caIds[1]}`, () => `AND ca_id = '${state.caIds[1]}'`],
  ['usage=client', 'usage=client', `AND usage = 'client'`],
  ['source=discovered', 'source=discovered', `AND source = 'discovered'`],
  ['createdFrom (last 90 days)', `createdFrom=${NINETY_DAYS_AGO}`, `AND created_at >= '${NINETY_DAYS_AGO}'`],
];

async function measureLists(base, db) {
  log('\nlist, pageSize 20 (page: OFFSET with the exact total; cursor: keyset, no total)');
  header();
  const value = (v) => (typeof v === 'function' ? v() : v);
  const cases = [
    ...LIST_FILTERS.map(([label, query, where]) => ({ label, query: value(query), where: value(where), sortBy: 'createdAt', sortOrder: 'desc' })),
    ...['createdAt', 'validTo', 'commonName'].flatMap((sortBy) => ['asc', 'desc'].map((sortOrder) => ({ label: `sortBy=${sortBy}&sortOrder=${sortOrder}`, query: '', where: '', sortBy, sortOrder }))),
  ];
  for (const c of cases) {
    const query = `${c.query ? `${c.query}&` : ''}sortBy=${c.sortBy}&sortOrder=${c.sortOrder}&pageSize=20`;
    const first = await measureGet(base, `/api/v1/certificates?${query}`);
    row(`${c.label}: page 1`, first, `total ${fmt(first.body.total)}`);
    const deep = await measureGet(base, `/api/v1/certificates?${query}&page=1000`);
    row(`${c.label}: page=1000`, deep);
    if (!hasCursor) continue;
    const position = await positionAt(db, c.sortBy, c.sortOrder, c.where, 999 * 20 - 1);
    if (!position) continue;
    const q = { sortBy: c.sortBy, sortOrder: c.sortOrder, status: 'all', ...Object.fromEntries(new URLSearchParams(c.query)) };
    const cursor = paging.encodeCursor(listDto.cursorQueryOf(q), position);
    const byCursor = await measureGet(base, `/api/v1/certificates?${query}&cursor=${cursor}`);
    if (byCursor.body.certificates[0]?.id !== deep.body.certificates[0]?.id) throw new Error(`${c.label}: the cursor page is not page 1000`);
    row(`${c.label}: cursor at page 1000`, byCursor);
  }
}

async function measureSearch(base, db) {
  log('\nsearch (default sort, pageSize 20)');
  header();
  const { rows: [sample] } = await db.query(
    `SELECT common_name, san_dns, serial_number, fingerprint_sha256 FROM certificates WHERE org_id = $1 AND array_length(san_dns, 1) > 1 AND ca_id IS NOT NULL ORDER BY created_at DESC OFFSET 12345 LIMIT 1`,
    [state.orgId],
  );
  const cn = sample.common_name.split('.').slice(0, 2).join('.');
  const san = sample.san_dns[1];
  const cases = [
    [`CN substring "${cn}"`, cn],
    [`DNS-SAN substring "${san.slice(0, 24)}"`, san.slice(0, 24)],
    ['whole serial', sample.serial_number],
    ['16 hex of a serial, colon-separated, lowercase', sample.serial_number.slice(6, 22).toLowerCase().replace(/(..)(?!$)/g, '$1:')],
    ['whole fingerprint', sample.fingerprint_sha256],
    ['issuing CA name "Acme Device CA"', 'Acme Device CA'],
    ['outside issuer "Legacy Corp"', 'Legacy Corp'],
    ['a miss "zz-no-such-host"', 'zz-no-such-host'],
  ];
  for (const [label, term] of cases) {
    const r = await measureGet(base, `/api/v1/certificates?search=${encodeURIComponent(term)}&pageSize=20`);
    row(label, r, `total ${fmt(r.body.total)}`);
    if (hasCursor && r.body.nextCursor) {
      const next = await measureGet(base, `/api/v1/certificates?search=${encodeURIComponent(term)}&pageSize=20&cursor=${r.body.nextCursor}`);
      row(`${label}: next page by cursor`, next);
    }
  }
}

async function measureStats(base) {
  log('\nstats');
  header();
  for (const [label, route] of [['org', '/api/v1/certificates/stats'], ['one CA', `/api/v1/certificates/stats?caId=${state.caIds[0]}`]]) {
    const r = await measureGet(base, route);
    row(label, r, `total ${fmt(r.body.total)}, active ${fmt(r.body.active)}, expiring30Days ${fmt(r.body.expiring30Days)}${r.body.asOf ? `, asOf ${r.body.asOf}` : ''}`);
  }
}

/** P-256 CSRs made by openssl. */
async function makeCsrs(count) {
  const openssl = promisify(execFile);
  const pems = [];
  for (let i = 0; i < count; i++) {
    const { stdout } = await openssl('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', `/CN=bench-${i}.inventory.test`, '-addext', `subjectAltName=DNS:bench-${i}.inventory.test`]);
    pems.push(stdout);
  }
  return pems;
}

/** Closed-loop CSR-mode issuance for `seconds`: issued per second and p50/p99 ms. */
async function issuance(base, key, caId, pems, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const url = new URL(`${base}/api/v1/certificates`);
  const bodies = pems.map((csrPem) => Buffer.from(JSON.stringify({ caId, mode: 'csr', csrPem })));
  const latencies = [];
  const statuses = {};
  let next = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const body = bodies[next++ % bodies.length];
      const sent = performance.now();
      const status = await new Promise((resolve, reject) => {
        const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Content-Length': body.length } }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', reject);
        req.end(body);
      }).catch(() => 'error');
      statuses[status] = (statuses[status] || 0) + 1;
      if (status === 201) latencies.push(performance.now() - sent);
    }
  }));
  const elapsed = performance.now() - started;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { perSecond: (latencies.length * 1000) / elapsed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), statuses };
}

/** Gateway and signer on `dbUrl`; the time from spawn to each one's readiness. */
async function startStack(label, dbUrl, masterKey) {
  const [gatewayPort, httpsPort, signerPort] = [await freePort(), await freePort(), await freePort()];
  // A queue of its own per stack: both stacks run at once, and a signer taking the other database's jobs
  // answered half the issuance requests 404 (the other database has no such CA) before this.
  const shared = { ...run.sharedEnv('warn', { DATABASE_URL: dbUrl.toString() }), QUEUE_PREFIX: `${run.queuePrefix}-${label}` };
  const started = performance.now();
  const gateway = run.startService(`gateway-${label}`, GATEWAY_MAIN, run.gatewayEnv(shared, gatewayPort, 1, { HTTPS_PORT: String(httpsPort) }));
  const signer = run.startService(`signer-${label}`, SIGNER_MAIN, run.signerEnv(shared, signerPort, masterKey ? { MASTER_KEY: masterKey } : {}));
  const ready = async (name, child, port, route) => {
    await run.waitForHealth(name, child, port, route);
    return performance.now() - started;
  };
  const [gatewayMs, signerMs] = await Promise.all([ready(`gateway-${label}`, gateway, gatewayPort, '/readyz'), ready(`signer-${label}`, signer, signerPort, '/healthz')]);
  return { base: `http://127.0.0.1:${gatewayPort}`, gateway, signer, gatewayMs, signerMs };
}

async function main() {
  run.requireBuild();
  log(machineLine());
  const db = new Client({ connectionString: inventoryUrl.toString() });
  await db.connect();
  const { rows: [size] } = await db.query(`SELECT count(*)::int AS n, pg_size_pretty(pg_total_relation_size('certificates')) AS size FROM certificates`);
  log(`inventory ${state.db}: ${fmt(size.n)} certificates, certificates table with indexes ${size.size}; seeded ${state.seededAt} at ${state.commit}; ${SAMPLES} samples per figure${hasCursor ? '' : '; this build has no cursor paging'}`);
  const { rows: migrations } = await db.query(`SELECT name FROM migrations ORDER BY id DESC LIMIT 1`).catch(() => ({ rows: [] }));
  if (migrations[0]) log(`latest migration: ${migrations[0].name}`);

  let empty = null;
  if (!flag('no-issuance') && (!ONLY || ONLY === 'issuance')) {
    const shared = run.sharedEnv('warn');
    run.createDatabase(shared);
    empty = await startStack('empty', run.dbUrl, null);
    log(`\nstart-up on an empty database: gateway ready in ${fmt(empty.gatewayMs)} ms, signer healthy in ${fmt(empty.signerMs)} ms`);
  }
  const inventory = await startStack('inventory', inventoryUrl, state.masterKey);
  log(`start-up on the inventory: gateway ready in ${fmt(inventory.gatewayMs)} ms, signer healthy in ${fmt(inventory.signerMs)} ms`);

  if (!ONLY || ONLY === 'list') await measureLists(inventory.base, db);
  if (!ONLY || ONLY === 'search') await measureSearch(inventory.base, db);
  if (!ONLY || ONLY === 'stats') await measureStats(inventory.base);

  if (empty) {
    const pems = await makeCsrs(64);
    const orgKey = await run.createOrg(empty.base);
    const emptyCa = await createCa(empty.base, orgKey, { name: 'Bench', subject: { commonName: 'Bench CA' }, keyAlgorithm: 'ECDSA-P256' });
    log(`\nissuance, CSR mode P-256, ${CONNECTIONS} connections, closed loop ${ISSUE_SECONDS} s (after 3 s warm-up)`);
    for (const [label, stack, key, caId] of [['empty database', empty, orgKey, emptyCa.id], [`inventory (${fmt(size.n)})`, inventory, state.orgKey, state.caIds[0]]]) {
      await issuance(stack.base, key, caId, pems, 3);
      const r = await issuance(stack.base, key, caId, pems, ISSUE_SECONDS);
      log(`  ${label.padEnd(28)} ${fmt(r.perSecond, 1).padStart(8)}/s  p50 ${fmt(r.p50, 1)} ms  p99 ${fmt(r.p99, 1)} ms  ${JSON.stringify(r.statuses)}`);
      stack.result = r;
    }
    log(`  ratio inventory / empty: ${fmt(inventory.result.perSecond / empty.result.perSecond, 2)}`);
  }
  await db.end();
}

run.main('bench/inventory/measure.js', main);
