#!/usr/bin/env node
/**
 * A full CRL for a CA with 1,000,000 revoked certificates, through the real path: the built signer takes
 * a `crl.build` job off BullMQ, streams the revoked serials from PostgreSQL (keyset pages), encodes,
 * signs and stores the CRL; the built gateway serves it at /pki/cas/:caId/crl. And the same CA's CRL
 * shards (issue 17): what one revocation costs when only its shard is re-signed.
 *
 *   npm run build && node bench/crl.js [--revoked 1000000] [--builds 2] [--log-level warn] [--no-openssl-count] [--sweep-ms 600000]
 *       [--concurrent 8] [--shards 16] [--shard-builds 3]
 *
 * Shards (--shards N > 1; 0 or 1 skips them): each seeded row also gets the crl_shard its serial falls in
 * (the product's rule, crlShardOf: the serial's last 32 bits modulo N). Before the full builds, PATCH
 * /api/v1/cas/:id {crlShards: N} publishes every shard's first CRL (the whole CA's revocations once, split
 * N ways; its time and the signer's CPU and VmHWM are reported), then --shard-builds `crl.build {caId,
 * shard}` jobs, each what one revocation schedules, are timed like the full builds: the job's work, the
 * signer's CPU and VmHWM (measured before any full build raised it), size, entries and openssl's verdict.
 *
 * Set-up: its own database and QUEUE_PREFIX, migrations, one signer and one gateway (GATEWAY_WORKERS=1),
 * an org and a P-256 root CA through the API (whose first, empty CRL is waited for). Then the revoked
 * rows are seeded directly in PostgreSQL with one INSERT ... SELECT generate_series: random unique
 * serials of 16-20 bytes (positive, first byte 0x40-0x7F as the product makes them; uppercase hex),
 * unique fingerprints, revoked_at within the 30 days before the first CRL (so the revocation sweep sees
 * nothing "missed"), reasons cycling through the RFC 5280 names, valid_to in the future, a 2-byte
 * certificate_der; all of the table's indexes in place. VACUUM ANALYZE (what autovacuum does to an insert-heavy table
 * soon after, and what lets the CRL pages be index-only scans), then each build is a `crl.build` job
 * added from here (the signer's own job name and payload) and waited for.
 *
 * Reported: seeding and VACUUM ANALYZE time; per build: the job's work (finishedOn - processedOn, BullMQ's
 * timestamps), the wall time from add to completion, the signer's RSS before (VmRSS, VmHWM) and its
 * peak (VmHWM after, and the highest VmRSS sampled every 50 ms); the CRL's size and revokedCount
 * (GET /api/v1/cas/:id/crl?format=info), `openssl crl -CAfile` verification, the entries counted in the
 * DER (and by `openssl crl -text`), and serving: curl's time to first byte and total time of
 * GET /pki/cas/:caId/crl, first request and second (the gateway keeps the bytes in memory), with the
 * gateway's RSS. Then one more build and N concurrent first requests (the gateway reads the bytes once
 * for all of them: its signet_pki_crl_reads_total is reported), the build's parts timed from here (the
 * same keyset pages; the same upsert, rolled back), the 47 MiB bytea stored under three column storage
 * settings, and the revocation sweep's CRL query (EXPLAIN ANALYZE) on this table, as a signer runs it
 * every REVOCATION_SWEEP_INTERVAL_MS.
 *
 * Drops the database and deletes the Redis keys at the end, also on failure or Ctrl-C. About 3 minutes
 * (seeding is about 110 s of it).
 * Figures: docs/BENCHMARKS.md.
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const Redis = require('ioredis');
const { Queue } = require('bullmq');
const { GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, sleep, fmt, machineLine, freePort, api, createCa, createRun } = require('./lib/harness');

const { arg, flag } = parseArgs();
const REVOKED = Number(arg('revoked', '1000000'));
const BUILDS = Number(arg('builds', '2'));
const OPENSSL_COUNT = !flag('no-openssl-count');
const SWEEP_MS = arg('sweep-ms', '600000');
const CONCURRENT = Number(arg('concurrent', '8'));
const SHARDS = Number(arg('shards', '16'));
const SHARD_BUILDS = Number(arg('shard-builds', '3'));
// Issue 17's targets (issue 3's were 15 s and 512 MiB).
const TARGET_SECONDS = 8;
const TARGET_MIB = 300;
const TARGET_SHARD_SECONDS = 1;

// Its own database, QUEUE_PREFIX and folder, removed at the end (lib/harness.js).
const run = createRun('crl');
const { work, dbName, withDb, queuePrefix: QUEUE_PREFIX, redisUrl: REDIS_URL } = run;
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

// ------------------------------------------------------------------------------------------- processes

/** VmRSS and VmHWM (bytes) of a process. */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Highest VmRSS seen every `ms` until stopped. */
function sampleRss(pid, ms = 50) {
  let max = 0;
  const timer = setInterval(() => {
    try {
      max = Math.max(max, memory(pid).rss);
    } catch {
      // exited
    }
  }, ms);
  return () => {
    clearInterval(timer);
    return max;
  };
}

/** CPU seconds (utime + stime) of a process. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// ------------------------------------------------------------------------------------------------- DER

/** Tag, header length and content length of the TLV at `at`. */
function tlv(der, at) {
  const tag = der[at];
  let len = der[at + 1];
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i];
    header += n;
  }
  return { tag, header, len, end: at + header + len };
}

/** revokedCertificates entries of a DER CRL, counted by walking the SEQUENCE OF. */
function countCrlEntries(der) {
  const outer = tlv(der, 0);
  const tbs = tlv(der, outer.header);
  let at = tbs.end - tbs.len;
  const fields = [];
  while (at < tbs.end) {
    const f = tlv(der, at);
    fields.push({ ...f, at });
    at = f.end;
  }
  // version, signature, issuer, thisUpdate, nextUpdate, then a SEQUENCE (revoked) or [0] (extensions)
  const revoked = fields[5] && fields[5].tag === 0x30 ? fields[5] : null;
  if (!revoked) return 0;
  let count = 0;
  for (let p = revoked.at + revoked.header; p < revoked.end; p = tlv(der, p).end) count++;
  return count;
}

// ------------------------------------------------------------------------------------------------ main

let queue = null;
let queueRedis = null;
run.onCleanup(async () => {
  await queue?.close().catch(() => undefined);
  queueRedis?.disconnect();
});

const REASONS = ['unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];

/** GET with curl: status, time to first byte, total time, size (the body saved to `file`). */
/** The gateway's count of full CRL reads from PostgreSQL (its /metrics). */
async function crlReads(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('signet_pki_crl_reads_total'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

function curl(url, file) {
  const r = spawnSync('curl', ['-s', '-o', file, '-w', '%{http_code} %{time_starttransfer} %{time_total} %{size_download}', url], { encoding: 'utf8' });
  const [status, ttfb, total, size] = r.stdout.trim().split(' ');
  return { status: Number(status), ttfb: Number(ttfb), total: Number(total), size: Number(size) };
}

function curlAsync(url, file) {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-s', '-o', file, '-w', '%{http_code} %{time_starttransfer} %{time_total} %{size_download}', url]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // 'close', not 'exit': curl's -w line may still be in the pipe when the process has exited.
    child.on('close', () => {
      const [status, ttfb, total, size] = out.trim().split(' ');
      resolve({ status: Number(status), ttfb: Number(ttfb), total: Number(total), size: Number(size) });
    });
  });
}

async function main() {
  run.requireBuild();
  const gatewayPort = await freePort();
  const signerPort = await freePort();
  const shared = run.sharedEnv(arg('log-level', 'warn'));
  const gatewayEnv = run.gatewayEnv(shared, gatewayPort, 1);
  // The revocation sweep runs at start and then every SWEEP_MS: by default not again during the builds (its
  // query is timed on its own below); --sweep-ms 60000 gives the product's default.
  const signerEnv = run.signerEnv(shared, signerPort, { REVOCATION_SWEEP_INTERVAL_MS: SWEEP_MS });

  log(`CRL bench, ${machineLine()}, ${mib(os.totalmem())} RAM`);
  log(`  database ${dbName}, QUEUE_PREFIX ${QUEUE_PREFIX}, LOG_LEVEL=${shared.LOG_LEVEL}, signer and gateway with their default settings otherwise`);
  run.createDatabase(shared);
  const gateway = run.startService('gateway', GATEWAY_MAIN, gatewayEnv);
  const signer = run.startService('signer', SIGNER_MAIN, signerEnv);
  await Promise.all([run.waitForHealth('gateway', gateway, gatewayPort), run.waitForHealth('signer', signer, signerPort)]);

  const base = `http://127.0.0.1:${gatewayPort}`;
  const key = await run.createOrg(base);
  const caId = (await createCa(base, key, { name: 'CRL bench', subject: { commonName: 'CRL Bench P-256 Root' }, keyAlgorithm: 'ECDSA-P256' })).id;
  const caPem = path.join(work, 'ca.pem');
  fs.writeFileSync(caPem, (await api(base, 'GET', `/api/v1/cas/${caId}`, key)).json.ca.certificatePem);
  let first = null;
  for (let i = 0; i < 100 && !first; i++) {
    const info = await api(base, 'GET', `/api/v1/cas/${caId}/crl?format=info`, key);
    if (info.status === 200) first = info.json;
    else await sleep(100);
  }
  if (!first) throw new Error('the new CA published no CRL within 10 s');
  log(`  P-256 root CA ${caId}; its first CRL: number ${first.crlNumber}, ${first.revokedCount} revoked, thisUpdate ${first.thisUpdate}`);

  // ---- seed
  const revokedBefore = new Date(new Date(first.thisUpdate).getTime() - 3600_000);
  const seed = await withDb(async (db) => {
    const [{ org_id: orgId }] = (await db.query('SELECT org_id FROM cas WHERE id = $1', [caId])).rows;
    const t0 = performance.now();
    const inserted = await db.query(
      `INSERT INTO certificates (org_id, ca_id, serial_number, fingerprint_sha256, common_name, subject, key_algorithm, usage, mode,
                                 valid_from, valid_to, status, revoked_at, revocation_reason, certificate_der, crl_shard)
       SELECT $1, $2, upper(encode(s, 'hex')), encode(sha256(s), 'hex'), 'revoked-' || g || '.bench.test',
              jsonb_build_object('commonName', 'revoked-' || g || '.bench.test'), 'ECDSA-P256', 'server', 'managed',
              now() - interval '30 days', now() + interval '300 days' + (g % 86400) * interval '1 second', 'revoked',
              $3::timestamptz - (g % 2592000) * interval '1 second', ($4::text[])[1 + g % 8], '\\x3000'::bytea,
              -- crlShardOf (libs/pki): the serial's last 32 bits modulo the shard count; none without shards.
              CASE WHEN $6::int > 1 THEN (('x' || encode(substring(s FROM length(s) - 3), 'hex'))::bit(32)::bigint % $6::int)::smallint END
         FROM (SELECT g, set_byte(b, 0, (get_byte(b, 0) & 63) | 64) AS s
                 FROM (SELECT g, gen_random_bytes(16 + g % 5) AS b FROM generate_series(1, $5::int) g OFFSET 0) r) x`,
      [orgId, caId, revokedBefore, REASONS, REVOKED, SHARDS],
    );
    const insertMs = performance.now() - t0;
    const t1 = performance.now();
    await db.query('VACUUM (ANALYZE) certificates');
    const analyzeMs = performance.now() - t1;
    const { rows } = await db.query(
      `SELECT pg_size_pretty(pg_total_relation_size('certificates')) AS total, pg_size_pretty(pg_relation_size('certificates')) AS heap,
              (SELECT count(*) FROM pg_indexes WHERE tablename = 'certificates')::int AS indexes,
              (SELECT min(length(serial_number)) / 2 || '-' || max(length(serial_number)) / 2 FROM certificates WHERE ca_id = $1) AS serial_bytes`,
      [caId],
    );
    return { rows: inserted.rowCount, insertMs, analyzeMs, ...rows[0] };
  });
  log(`  seeded ${fmt(seed.rows)} revoked certificates (serials of ${seed.serial_bytes} bytes) with one INSERT ... SELECT generate_series: ${(seed.insertMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(seed.analyzeMs / 1000).toFixed(1)} s; table ${seed.heap}, with its ${seed.indexes} indexes ${seed.total}`);

  // ---- builds
  queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue('signer', { connection: queueRedis, prefix: QUEUE_PREFIX });
  const builds = [];
  let der = null;
  const build = async (n) => {
    const before = memory(signer.pid);
    const cpuBefore = cpuSeconds(signer.pid);
    const stopSampling = sampleRss(signer.pid);
    const t0 = performance.now();
    const job = await queue.add('crl.build', { caId }, { jobId: `bench-crl-${n}-${randomBytes(3).toString('hex')}` });
    let done = null;
    while (!done) {
      await sleep(25);
      const current = await queue.getJob(job.id);
      if (current?.finishedOn) done = current;
      if (performance.now() - t0 > 120_000) throw new Error(`build ${n} did not finish in 120 s`);
    }
    const wallMs = performance.now() - t0;
    const sampledMax = stopSampling();
    const after = memory(signer.pid);
    const cpu = cpuSeconds(signer.pid) - cpuBefore;
    if (done.failedReason) throw new Error(`build ${n} failed: ${done.failedReason}`);
    const b = { n, start: done.processedOn, end: done.finishedOn, workMs: done.finishedOn - done.processedOn, queuedMs: done.processedOn - done.timestamp, wallMs, before, after, sampledMax, cpu, result: done.returnvalue };
    log(`\nbuild ${n} (crl.build job ${job.id}): work ${(b.workMs / 1000).toFixed(2)} s (finishedOn - processedOn), wall ${(wallMs / 1000).toFixed(2)} s (add -> seen finished), queued ${b.queuedMs} ms; signer CPU ${cpu.toFixed(2)} s`);
    log(`  result: ${JSON.stringify(b.result)}`);
    log(`  signer memory: before VmRSS ${mib(before.rss)} (VmHWM ${mib(before.hwm)}); after VmRSS ${mib(after.rss)}, VmHWM ${mib(after.hwm)}; highest VmRSS sampled every 50 ms during the build ${mib(sampledMax)}`);
    return b;
  };
  // ---- shards first: the signer's VmHWM is still its own start-up's, so it shows what shard builds need
  let sharding = null;
  const shardBuilds = [];
  if (SHARDS > 1) {
    const before = memory(signer.pid);
    const cpuBefore = cpuSeconds(signer.pid);
    const t0 = performance.now();
    const patched = await api(base, 'PATCH', `/api/v1/cas/${caId}`, key, { crlShards: SHARDS });
    if (patched.status !== 200) throw new Error(`PATCH crlShards: ${patched.status} ${JSON.stringify(patched.json)}`);
    sharding = { ms: performance.now() - t0, cpu: cpuSeconds(signer.pid) - cpuBefore, before, after: memory(signer.pid), urls: patched.json.ca.crlShardUrls.length };
    const { rows } = await withDb((db) => db.query(`SELECT count(*)::int AS shards, sum(revoked_count)::int AS entries, min(revoked_count) AS least, max(revoked_count) AS most FROM crl_shards WHERE ca_id = $1`, [caId]));
    sharding.stored = rows[0];
    log(`\nPATCH crlShards ${SHARDS} (every shard's first CRL, before the answer): ${(sharding.ms / 1000).toFixed(2)} s, signer CPU ${sharding.cpu.toFixed(2)} s, signer VmHWM ${mib(before.hwm)} -> ${mib(sharding.after.hwm)}; ${sharding.stored.shards} shard CRLs holding ${fmt(sharding.stored.entries)} entries (${fmt(sharding.stored.least)}-${fmt(sharding.stored.most)} each), ${sharding.urls} shard URLs on the CA`);
    for (let i = 0; i < SHARD_BUILDS; i++) {
      const shard = (i * 5) % SHARDS;
      const b = { shard, before: memory(signer.pid) };
      const cpuStart = cpuSeconds(signer.pid);
      const started = performance.now();
      const job = await queue.add('crl.build', { caId, shard }, { jobId: `bench-crl-shard-${shard}-${randomBytes(3).toString('hex')}` });
      let done = null;
      while (!done) {
        await sleep(10);
        const current = await queue.getJob(job.id);
        if (current?.finishedOn) done = current;
        if (performance.now() - started > 60_000) throw new Error(`shard build ${shard} did not finish in 60 s`);
      }
      if (done.failedReason) throw new Error(`shard build ${shard} failed: ${done.failedReason}`);
      Object.assign(b, { workMs: done.finishedOn - done.processedOn, wallMs: performance.now() - started, cpu: cpuSeconds(signer.pid) - cpuStart, after: memory(signer.pid), result: done.returnvalue });
      const file = path.join(work, `shard-${shard}.der`);
      b.serve = curl(`${base}/pki/cas/${caId}/crl/${shard}`, file);
      const shardDer = fs.readFileSync(file);
      b.size = shardDer.length;
      b.entries = countCrlEntries(shardDer);
      const text = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', caPem, '-noout', '-text'], { encoding: 'utf8' });
      b.verify = /verify OK/.test(`${text.stdout}${text.stderr}`) ? 'verify OK' : `${text.stderr}`.trim().slice(0, 200);
      b.idp = /Issuing Distribution Point: critical/.test(text.stdout) && text.stdout.includes(`/pki/cas/${caId}/crl/${shard}`);
      shardBuilds.push(b);
      log(`shard ${shard} build (what one revocation schedules): work ${(b.workMs / 1000).toFixed(3)} s, wall ${(b.wallMs / 1000).toFixed(3)} s, signer CPU ${b.cpu.toFixed(2)} s, signer VmHWM ${mib(b.after.hwm)}; CRL number ${b.result.crlNumber}, ${fmt(b.entries)} entries, ${mib(b.size)}; ${b.verify}, IDP naming /crl/${shard}: ${b.idp ? 'yes' : 'NO'}; GET /pki/cas/:caId/crl/${shard}: HTTP ${b.serve.status}, total ${(b.serve.total * 1000).toFixed(0)} ms`);
    }
  }

  for (let n = 1; n <= BUILDS; n++) {
    const b = await build(n);
    builds.push(b);

    // Serving: the first request after a new CRL number reads the bytes from PostgreSQL, the next from memory.
    const file = path.join(work, `crl-${n}.der`);
    const gwBefore = memory(gateway.pid);
    b.serve = [curl(`${base}/pki/cas/${caId}/crl`, file), curl(`${base}/pki/cas/${caId}/crl`, file)];
    b.gateway = { before: gwBefore, after: memory(gateway.pid) };
    const t1 = performance.now();
    const info = await api(base, 'GET', `/api/v1/cas/${caId}/crl?format=info&revokedLimit=1`, key);
    b.infoMs = performance.now() - t1;
    if (info.status !== 200) throw new Error(`crl info: ${info.status} ${JSON.stringify(info.json)}`);
    b.info = info.json;
    der = fs.readFileSync(file);
    b.size = der.length;
    b.entries = countCrlEntries(der);
    const verify = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', caPem, '-noout'], { encoding: 'utf8' });
    b.verify = `${verify.stdout}${verify.stderr}`.trim();
    log(`  GET /api/v1/cas/:id/crl?format=info&revokedLimit=1 (after the two GETs): ${b.infoMs.toFixed(0)} ms, ${JSON.stringify(b.info)}`);
    log(`  CRL: ${fmt(b.size)} bytes (${mib(b.size)}), ${fmt(b.entries)} entries in the DER; openssl crl -CAfile: ${b.verify || '(nothing)'}`);
    for (const [i, s] of b.serve.entries()) {
      log(`  GET /pki/cas/:caId/crl #${i + 1}: HTTP ${s.status}, time to first byte ${(s.ttfb * 1000).toFixed(0)} ms, total ${(s.total * 1000).toFixed(0)} ms, ${fmt(s.size)} bytes`);
    }
    log(`  gateway memory: VmRSS ${mib(b.gateway.before.rss)} -> ${mib(b.gateway.after.rss)}, VmHWM ${mib(b.gateway.before.hwm)} -> ${mib(b.gateway.after.hwm)}`);
    if (b.serve[0].status !== 200 || b.serve[0].size !== b.size) throw new Error('serving the CRL failed');
  }

  // ---- a new CRL number, then CONCURRENT first requests at once: each reads the bytes from PostgreSQL
  let herd = null;
  if (CONCURRENT > 0) {
    const b = await build(BUILDS + 1);
    const gwBefore = memory(gateway.pid);
    const readsBefore = await crlReads(base);
    const stopSampling = sampleRss(gateway.pid);
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        curlAsync(`${base}/pki/cas/${caId}/crl`, path.join(work, `herd-${i}.der`))),
    );
    const wall = performance.now() - t0;
    const sampled = stopSampling();
    const gwAfter = memory(gateway.pid);
    const reads = (await crlReads(base)) - readsBefore;
    const { rows } = await withDb((db) => db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`));
    const identical = results.every((r, i) => fs.readFileSync(path.join(work, `herd-${i}.der`)).equals(fs.readFileSync(path.join(work, 'herd-0.der'))));
    herd = { build: b, results, wall, gwBefore, gwAfter, sampled, reads, identical };
    const ttfb = results.map((r) => r.ttfb * 1000).sort((x, y) => x - y);
    log(`  ${CONCURRENT} concurrent GET /pki/cas/:caId/crl right after it: all ${results.every((r) => r.status === 200 && r.size === results[0].size) ? '200 with the same size' : `NOT all 200: ${results.map((r) => r.status).join(',')}`}; TTFB ${ttfb[0].toFixed(0)}-${ttfb[ttfb.length - 1].toFixed(0)} ms, all done in ${wall.toFixed(0)} ms; ${identical ? 'byte-identical' : 'NOT IDENTICAL'}; CRL reads from PostgreSQL ${reads} (signet_pki_crl_reads_total); gateway VmRSS ${mib(gwBefore.rss)} -> ${mib(gwAfter.rss)}, VmHWM ${mib(gwBefore.hwm)} -> ${mib(gwAfter.hwm)} (highest sampled ${mib(sampled)}); connections to the database now ${rows[0].n}`);
  }

  // ---- storing 47 MiB in a bytea column: the crls table's default storage (EXTENDED, pglz) against others
  const storage = await withDb(async (db) => {
    const out = [];
    for (const [label, alter] of [
      ['EXTENDED + pglz (bytea default; crls.der before migration 1764400000000)', null],
      ['EXTERNAL (no compression; crls.der now)', 'ALTER TABLE bench_store ALTER COLUMN der SET STORAGE EXTERNAL'],
      ['EXTENDED + lz4', 'ALTER TABLE bench_store ALTER COLUMN der SET COMPRESSION lz4'],
    ]) {
      await db.query('DROP TABLE IF EXISTS bench_store');
      await db.query('CREATE TABLE bench_store (id int PRIMARY KEY, der bytea NOT NULL)');
      if (alter) await db.query(alter);
      const t0 = performance.now();
      await db.query('INSERT INTO bench_store VALUES (1, $1)', [der]);
      const ms = performance.now() - t0;
      const { rows } = await db.query(`SELECT pg_total_relation_size('bench_store') AS size`);
      out.push({ label, ms, size: Number(rows[0].size) });
    }
    await db.query('DROP TABLE IF EXISTS bench_store');
    return out;
  });
  log(`\nstoring the ${mib(der.length)} CRL in a fresh table, one INSERT from node-pg: ${storage.map((v) => `${v.label} ${(v.ms / 1000).toFixed(2)} s (${mib(v.size)} on disk)`).join('; ')}`);

  // ---- openssl's own count, once
  if (OPENSSL_COUNT && der) {
    const file = path.join(work, 'crl-last.der');
    fs.writeFileSync(file, der);
    const t0 = performance.now();
    const r = spawnSync('bash', ['-c', `openssl crl -inform DER -in "${file}" -noout -text | grep -c 'Serial Number:'`], { encoding: 'utf8' });
    log(`\nopenssl crl -text | grep -c 'Serial Number:' -> ${r.stdout.trim()} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  // ---- where a build's time goes, outside the signer: the keyset pages read from here as rows, and the store
  const parts = await withDb(async (db) => {
    const now = new Date();
    let after = '';
    let rows = 0;
    let pages = 0;
    const t0 = performance.now();
    for (;;) {
      const page = await db.query(
        `SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
          WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND valid_to > $3
          ORDER BY serial_number LIMIT 20000`,
        [caId, after, now],
      );
      pages++;
      rows += page.rows.length;
      if (page.rows.length < 20000) break;
      after = page.rows[page.rows.length - 1].s;
    }
    const readMs = performance.now() - t0;
    const { rows: plan } = await db.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT serial_number AS s, revoked_at AS at, revocation_reason AS r FROM certificates
        WHERE ca_id = $1 AND status = 'revoked' AND serial_number > $2 AND valid_to > $3 ORDER BY serial_number LIMIT 20000`,
      [caId, '', now],
    );
    const pageServerMs = plan[0]['QUERY PLAN'][0]['Execution Time'];
    const node = plan[0]['QUERY PLAN'][0].Plan;
    const scan = node.Plans?.[0] ?? node;
    await db.query('BEGIN');
    const t1 = performance.now();
    await db.query(
      `INSERT INTO crls (ca_id, crl_number, this_update, next_update, revoked_count, der, updated_at) VALUES ($1, 999999, now(), now() + interval '1 day', $2, $3, now())
       ON CONFLICT (ca_id) DO UPDATE SET crl_number = excluded.crl_number, der = excluded.der, updated_at = now()`,
      [caId, REVOKED, der],
    );
    const storeMs = performance.now() - t1;
    await db.query('ROLLBACK');
    const heapFetches = scan['Heap Fetches'] === undefined ? '' : `, heap fetches ${scan['Heap Fetches']}`;
    return { readMs, rows, pages, pageServerMs, scan: `${scan['Node Type']}${scan['Index Name'] ? ` on ${scan['Index Name']}` : ''}${heapFetches}`, storeMs };
  });
  log(`
parts of a build, timed from this script: reading the ${fmt(parts.rows)} rows in ${parts.pages} keyset pages of 20,000 (node-pg, one row object per entry: the SQL the signer used before it packed pages with string_agg) ${(parts.readMs / 1000).toFixed(2)} s; one page in PostgreSQL ${parts.pageServerMs.toFixed(0)} ms (EXPLAIN ANALYZE, ${parts.scan}); storing the ${mib(der.length)} CRL (the same upsert, rolled back) ${(parts.storeMs / 1000).toFixed(2)} s`);

  // ---- the revocation sweep's CRL query on this table (every signer runs it each sweep interval)
  const sweep = await withDb(async (db) => {
    const { rows } = await db.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
       SELECT ca.id FROM cas ca LEFT JOIN crls c ON c.ca_id = ca.id
        WHERE NOT ca.has_passphrase AND ca.valid_to > now()
          AND (c.ca_id IS NULL
               OR c.next_update < now() + make_interval(secs => $1)
               OR EXISTS (SELECT 1 FROM certificates x WHERE x.ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2))
               OR EXISTS (SELECT 1 FROM cas x WHERE x.parent_ca_id = ca.id AND x.status = 'revoked' AND x.revoked_at >= c.this_update AND x.revoked_at < now() - make_interval(secs => $2)))`,
      [21600, 15],
    );
    const indexes = new Set();
    const walk = (node) => {
      if (node['Index Name']) indexes.add(`${node['Node Type']} on ${node['Index Name']}`);
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(rows[0]['QUERY PLAN'][0].Plan);
    return { ms: rows[0]['QUERY PLAN'][0]['Execution Time'], indexes: [...indexes].join(', ') || 'no index' };
  });
  const sweeps = (await queue.getJobs(['completed', 'failed'], 0, 50)).filter((j) => j.name === 'revocation.sweep' && j.processedOn);
  const overlapping = sweeps.filter((j) => builds.some((b) => j.finishedOn >= b.start && j.processedOn <= b.end));
  log(`\nrevocation sweep: its CRL query takes ${sweep.ms.toFixed(1)} ms on this table (EXPLAIN ANALYZE; ${sweep.indexes}); sweeps run so far ${sweeps.length}: ${sweeps.map((j) => `${j.finishedOn - j.processedOn} ms`).join(', ') || '-'}; during a build: ${overlapping.length}`);

  // ---- summary
  log('\nsummary');
  log(`  load average (1, 5, 15 min) at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')} on ${os.cpus().length} CPUs`);
  log(`  seeding ${fmt(seed.rows)} rows: ${(seed.insertMs / 1000).toFixed(1)} s + VACUUM ANALYZE ${(seed.analyzeMs / 1000).toFixed(1)} s`);
  if (sharding) {
    log(`  ${SHARDS} shards: PATCH crlShards (all shards' first CRLs) ${(sharding.ms / 1000).toFixed(2)} s, signer CPU ${sharding.cpu.toFixed(2)} s`);
    for (const b of shardBuilds) {
      log(`  shard ${b.shard}: ${(b.workMs / 1000).toFixed(3)} s (signer CPU ${b.cpu.toFixed(2)} s), ${fmt(b.entries)} entries, signer VmHWM ${mib(b.after.hwm)}, ${b.verify}; target <= ${TARGET_SHARD_SECONDS} s: ${b.workMs <= TARGET_SHARD_SECONDS * 1000 ? 'met' : 'NOT met'}`);
    }
  }
  for (const b of builds) {
    const okTime = b.workMs <= TARGET_SECONDS * 1000;
    const okMem = b.after.hwm <= TARGET_MIB * 1024 * 1024;
    log(`  build ${b.n}: ${(b.workMs / 1000).toFixed(2)} s (wall ${(b.wallMs / 1000).toFixed(2)} s), signer peak RSS ${mib(b.after.hwm)} (before ${mib(b.before.rss)}), ${mib(b.size)}, revokedCount ${fmt(b.info.revokedCount)}, ${fmt(b.entries)} entries, ${/verify OK/.test(b.verify) ? 'verify OK' : 'NOT VERIFIED'}; serving: TTFB ${(b.serve[0].ttfb * 1000).toFixed(0)} / ${(b.serve[1].ttfb * 1000).toFixed(0)} ms, total ${(b.serve[0].total * 1000).toFixed(0)} / ${(b.serve[1].total * 1000).toFixed(0)} ms (first / second)`);
    log(`    target <= ${TARGET_SECONDS} s: ${okTime ? 'met' : 'NOT met'}; target <= ${TARGET_MIB} MiB: ${okMem ? 'met' : 'NOT met'}`);
  }
  if (herd) {
    const ttfb = herd.results.map((r) => r.ttfb * 1000).sort((x, y) => x - y);
    log(`  build ${herd.build.n}: ${(herd.build.workMs / 1000).toFixed(2)} s, signer VmHWM ${mib(herd.build.after.hwm)}; then ${CONCURRENT} concurrent first GETs: TTFB ${ttfb[0].toFixed(0)}-${ttfb[ttfb.length - 1].toFixed(0)} ms, gateway VmHWM ${mib(herd.gwBefore.hwm)} -> ${mib(herd.gwAfter.hwm)}, ${herd.reads} read(s) from PostgreSQL`);
  }
  log(`  revocation sweep's CRL query: ${sweep.ms.toFixed(1)} ms`);
}

run.main('bench/crl.js', main);
