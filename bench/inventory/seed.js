#!/usr/bin/env node
/**
 * Seeds an inventory of real certificates into a database of its own (default signet_inventory), kept
 * for repeated measurements by bench/inventory/measure.js:
 *
 *   npm run build && node bench/inventory/seed.js [--count 5000000] [--db signet_inventory] [--workers 2]
 *       [--state /var/tmp/signet-inventory/state.json] [--fresh] [--commit <sha>]
 *   node bench/inventory/seed.js --finish     # after a seed stopped part-way: indexes, VACUUM ANALYZE
 *
 * 1. Creates the database and runs the migrations (the built CLI).
 * 2. Starts the built gateway and signer on it, makes an org through the platform API and imports a CA
 *    hierarchy the seed made with the signing lib (a P-256 root, two P-256 issuing CAs and an Ed25519
 *    device CA): the signer keeps the keys under MASTER_KEY, so measure.js can issue from them later.
 * 3. Stops them; worker threads sign `count` distinct leaf certificates under those keys (and under two
 *    outside CAs, for the imported and discovered ones) with the signing lib, and the rows stream into
 *    `COPY certificates FROM STDIN` (psql). Every column matches the DER it stores. Leaf public keys come
 *    from pools made once (2,000 P-256, 400 P-384, 16 RSA-2048, 400 Ed25519): certificates are
 *    distinct (serial, names, validity, signature), keys are shared, since RSA key generation would
 *    otherwise be most of the seed's time.
 * 4. The table's secondary indexes are dropped before the COPY and rebuilt after it from their own
 *    definitions (pg_get_indexdef), then VACUUM ANALYZE: the same indexes a live install has, built once.
 *
 * The state file keeps what measure.js needs (database, MASTER_KEY, org admin key, CA ids); it holds
 * secrets of this throwaway database only, mode 0600. Not part of npm test.
 * What is not seeded: OCSP responses, audit events, renewal chains (renewedFromId), stored keys, CSRs.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Client } = require('pg');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, fmt, machineLine, freePort, api, createRun } = require('../lib/harness');
const { COLUMNS } = require('./spread');

const pki = require(path.join(ROOT, 'dist', 'libs', 'pki', 'src'));
const { arg, flag } = parseArgs();
const COUNT = Number(arg('count', '5000000'));
const DB = arg('db', 'signet_inventory');
const WORKERS = Number(arg('workers', '2'));
const STATE = path.resolve(arg('state', '/var/tmp/signet-inventory/state.json'));
const DAY_MS = 86_400_000;
const BATCH = 250_000;

const run = createRun('inventory-seed');
const serverUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet');
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${DB}`;
const adminUrl = new URL(serverUrl);
adminUrl.pathname = '/postgres';

async function sql(url, text, params) {
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);

/** A CA certificate and key made here, as the import endpoint takes them and the workers sign with them. */
async function makeCa(name, algorithm, parent, years) {
  const keys = await pki.generateKeyPair(algorithm);
  const now = Date.now();
  const certificate = pki.buildCertificateSync({
    kind: parent ? 'intermediate' : 'root',
    subject: { commonName: name, organization: 'Acme Corp', country: 'DE' },
    publicKey: keys.publicKey,
    ...(parent ? { issuer: pki.issuerOf(parent.der, parent.privateKey), pathLength: 0 } : { selfSignKey: keys.privateKey }),
    notBefore: new Date(now - 4 * 365 * DAY_MS),
    notAfter: new Date(now + years * 365 * DAY_MS),
  });
  return { name, der: certificate.der, pem: certificate.pem, privateKey: keys.privateKey, keyPem: pki.exportPrivateKeyPem(keys.privateKey), issuerDn: pki.formatName(pki.parseCertificate(certificate.der).subjectDer) };
}

/** Org and CAs through the API of the built services; returns the state measure.js needs. */
async function createOrgAndCas(masterKey) {
  const [gatewayPort, httpsPort, signerPort] = [await freePort(), await freePort(), await freePort()];
  const shared = run.sharedEnv('warn', { DATABASE_URL: dbUrl.toString() });
  const gateway = run.startService('gateway', GATEWAY_MAIN, run.gatewayEnv(shared, gatewayPort, 1, { HTTPS_PORT: String(httpsPort) }));
  const signer = run.startService('signer', SIGNER_MAIN, run.signerEnv(shared, signerPort, { MASTER_KEY: masterKey }));
  await Promise.all([run.waitForHealth('gateway', gateway, gatewayPort), run.waitForHealth('signer', signer, signerPort)]);
  const base = `http://127.0.0.1:${gatewayPort}`;
  const orgKey = await run.createOrg(base);
  const root = await makeCa('Acme Root CA', 'ECDSA-P256', null, 20);
  const issuing = [
    { ...(await makeCa('Acme Issuing CA 1', 'ECDSA-P256', root, 10)), weight: 55 },
    { ...(await makeCa('Acme Issuing CA 2', 'ECDSA-P256', root, 10)), weight: 30 },
    { ...(await makeCa('Acme Device CA', 'Ed25519', root, 10)), weight: 15 },
  ];
  const imported = async (ca, chainPem) => {
    const r = await api(base, 'POST', '/api/v1/cas/import', orgKey, { name: ca.name, certificatePem: ca.pem, privateKeyPem: ca.keyPem, chainPem });
    if (r.status !== 201) throw new Error(`import ${ca.name}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.ca.id;
  };
  const rootId = await imported(root);
  for (const ca of issuing) ca.id = await imported(ca, root.pem);
  const whoami = await api(base, 'GET', '/api/v1/whoami', orgKey);
  await run.stopServices();
  // Outside CAs (never imported): issuers of the imported and discovered certificates.
  const outsideRoot = await makeCa('Outside Trust Root', 'ECDSA-P256', null, 20);
  const outside = [
    { ...(await makeCa('Outside Trust TLS CA', 'ECDSA-P256', outsideRoot, 10)), weight: 2 },
    { ...(await makeCa('Legacy Corp Issuing CA', 'ECDSA-P256', outsideRoot, 10)), weight: 1 },
  ];
  return { base, orgKey, orgId: whoami.json.org.id, rootId, issuing, outside };
}

/** The certificates table's indexes that no constraint owns: dropped before the COPY, rebuilt after. */
async function secondaryIndexes() {
  return sql(
    dbUrl,
    `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = 'certificates'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`,
  );
}

/**
 * Leaf public keys, shared by the threads: distinct keys are the costly part (RSA above all, 0.1-0.5 s
 * each on this machine), so certificates share them; everything else about each certificate is its own.
 */
async function keyPools() {
  const sizes = { 'ECDSA-P256': 2000, 'ECDSA-P384': 400, 'RSA-2048': 16, Ed25519: 400 };
  const pools = {};
  for (const [algorithm, size] of Object.entries(sizes)) {
    pools[algorithm] = [];
    for (let i = 0; i < size; i++) pools[algorithm].push(pki.spkiDer((await pki.generateKeyPair(algorithm)).publicKey));
  }
  return pools;
}

/** The worker threads' rows into one psql COPY, each thread paused while psql's stdin is full. */
async function copyRows(setup, now) {
  // A script on stdin, one COPY per BATCH rows: each commits on its own, so a seed stopped part-way keeps
  // what it wrote (then `--finish` builds the indexes over it).
  const copy = `COPY certificates (${COLUMNS.join(', ')}) FROM STDIN;\n`;
  const psql = spawn('psql', [dbUrl.toString(), '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { stdio: ['pipe', 'inherit', 'inherit'] });
  psql.stdin.write(copy);
  let nextBatch = BATCH;
  const finished = new Promise((resolve, reject) => psql.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql COPY exited ${code}`)))));
  let written = 0;
  const reportEvery = Math.max(10_000, Math.round(COUNT / 20));
  let nextReport = reportEvery;
  const pools = await keyPools();
  const started = Date.now();
  const per = Math.ceil(COUNT / WORKERS);
  const cas = setup.issuing.map((ca) => ({ id: ca.id, derHex: ca.der.toString('hex'), keyPem: ca.keyPem, issuerDn: ca.issuerDn, weight: ca.weight }));
  const outside = setup.outside.map((ca) => ({ derHex: ca.der.toString('hex'), keyPem: ca.keyPem, issuerDn: ca.issuerDn, weight: ca.weight }));
  await Promise.all(
    Array.from({ length: WORKERS }, (_, w) => new Promise((resolve, reject) => {
      const count = Math.min(per, COUNT - w * per);
      const worker = new Worker(path.join(__dirname, 'seed-worker.js'), {
        workerData: { count, seed: 0x5eed + w, orgId: setup.orgId, now, cas, outside, publicBaseUrl: 'https://pki.acme.internal', chunk: 2000, keyPools: pools },
      });
      worker.on('message', (message) => {
        if (message.error) return reject(new Error(message.error));
        if (message.done) return worker.terminate().then(resolve);
        written += message.n;
        if (written >= nextReport) {
          log(`  ${fmt(written)} rows, ${fmt(written / ((Date.now() - started) / 1000))}/s`);
          nextReport += reportEvery;
        }
        let rows = message.rows;
        if (written >= nextBatch) {
          rows += `\\.\n${copy}`;
          nextBatch += BATCH;
        }
        if (psql.stdin.write(rows)) worker.postMessage('more');
        else psql.stdin.once('drain', () => worker.postMessage('more'));
      });
      worker.on('error', reject);
    })),
  );
  psql.stdin.end('\\.\n');
  await finished;
  return written;
}

async function main() {
  run.requireBuild();
  log(machineLine());
  if (flag('finish')) {
    const state = JSON.parse(fs.readFileSync(STATE, 'utf8'));
    state.timings ??= {};
    return finish(state);
  }
  const exists = (await sql(adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [DB])).length > 0;
  if (exists && !flag('fresh')) throw new Error(`${DB} exists: measure it with bench/inventory/measure.js, or seed again with --fresh`);
  if (exists) await sql(adminUrl, `DROP DATABASE ${DB} WITH (FORCE)`);
  const env = { PATH: process.env.PATH, DATABASE_URL: dbUrl.toString() };
  const cli = path.join(ROOT, 'dist/libs/persistence/src/cli.js');
  execFileSync(process.execPath, [cli, 'create-db'], { env, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'run'], { env, stdio: 'ignore' });

  const masterKey = randomBytes(32).toString('base64');
  const setup = await createOrgAndCas(masterKey);
  log(`org ${setup.orgId}, CAs ${setup.issuing.map((ca) => `${ca.name} ${ca.id}`).join(', ')}`);

  const indexes = await secondaryIndexes();
  const state = {
    db: DB, seededAt: new Date().toISOString(), commit: arg('commit') ?? gitCommit(),
    masterKey, orgId: setup.orgId, orgKey: setup.orgKey, rootCaId: setup.rootId, caIds: setup.issuing.map((ca) => ca.id), pendingIndexes: indexes,
  };
  saveState(state);
  for (const index of indexes) await sql(dbUrl, `DROP INDEX ${index.name}`);
  const t = Date.now();
  const written = await copyRows(setup, Date.parse(state.seededAt));
  const copySeconds = seconds(t);
  log(`COPY: ${fmt(written)} certificates in ${copySeconds} s (${fmt(written / Number(copySeconds))}/s), ${WORKERS} signing threads`);
  state.timings = { copySeconds: Number(copySeconds) };
  await finish(state);
}

/** The commit the build was made from (`--commit` for a build outside a git checkout). */
function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function saveState(state) {
  fs.mkdirSync(path.dirname(STATE), { recursive: true, mode: 0o700 });
  fs.writeFileSync(STATE, JSON.stringify(state, null, 2), { mode: 0o600 });
}

/** The dropped indexes built again, VACUUM ANALYZE, the figures into the state file. */
async function finish(state) {
  let t = Date.now();
  for (const index of state.pendingIndexes) {
    const one = Date.now();
    await sql(dbUrl, index.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX IF NOT EXISTS '));
    log(`  ${index.name}: ${seconds(one)} s`);
  }
  state.timings.indexSeconds = Number(seconds(t));
  delete state.pendingIndexes;
  t = Date.now();
  await sql(dbUrl, 'VACUUM ANALYZE certificates');
  state.timings.vacuumSeconds = Number(seconds(t));
  const [size] = await sql(dbUrl, `SELECT count(*)::int AS count, pg_size_pretty(pg_table_size('certificates')) AS "table", pg_size_pretty(pg_indexes_size('certificates')) AS indexes FROM certificates`);
  state.count = size.count;
  state.size = { table: size.table, indexes: size.indexes };
  log(`indexes built in ${state.timings.indexSeconds} s, VACUUM ANALYZE ${state.timings.vacuumSeconds} s; ${fmt(size.count)} certificates, table ${size.table}, indexes ${size.indexes}`);
  saveState(state);
  log(`state: ${STATE}`);
}

run.main('bench/inventory/seed.js', main);
