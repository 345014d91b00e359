#!/usr/bin/env node
/**
 * What a producer's answer to an issuance costs in its own process, the two ways (issue 17): reading the
 * group's new rows back from PostgreSQL (libs/persistence certificatesById, what the gateway and enroll
 * did until the signer's outcome carried the row), against taking the row from the outcome (the
 * IssuedCertificate's JSON parsed, issuedRowOf). Also the signer's side of the outcome (issuedCertificateOf
 * and the JSON). CPU time of this process only (process.cpuUsage), so other work on the machine moves
 * the figures far less than it moves a throughput; PostgreSQL's own CPU for the query comes on top of the
 * read-back's.
 *
 *   npm run build && node bench/readback.js [--certificates 320] [--group 10] [--rounds 200]
 *
 * Starts the built gateway and signer on its own database and queue prefix (removed at the end), issues
 * the certificates through the API (managed ECDSA-P256), then measures in this process.
 */
'use strict';
const path = require('node:path');
const { ROOT, GATEWAY_MAIN, SIGNER_MAIN, parseArgs, log, freePort, api, createCa, createRun, machineLine } = require('./lib/harness');

const { arg } = parseArgs();
const CERTIFICATES = Number(arg('certificates', '320'));
const GROUP = Number(arg('group', '10'));
const ROUNDS = Number(arg('rounds', '200'));

const persistence = require(path.join(ROOT, 'dist/libs/persistence/src/index.js'));
const { DataSource } = require('typeorm');

const run = createRun('readback');
/** What the signer's INSERT returns (libs/persistence insert-certificates.ts, FILLED). */
const FILLED = 'subject, status, revoked_at, revocation_reason, revocation_comments, superseded_by_id, renewal_status, renewal_last_attempt_at, '
  + 'renewal_last_error, renewal_next_attempt_at, created_at, profile_id, environment, source, issuer_dn, acme_account_id';

/** CPU microseconds of this process per certificate over `rounds` calls of `fn` (each for one group). */
async function cpuPerCertificate(rounds, fn) {
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await fn(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (rounds * GROUP);
}

async function main() {
  run.requireBuild();
  const [gatewayPort, signerPort] = [await freePort(), await freePort()];
  const shared = run.sharedEnv('warn', { DATABASE_POOL_SIZE: '10' });
  run.createDatabase(shared);
  const gateway = run.startService('gateway', GATEWAY_MAIN, run.gatewayEnv(shared, gatewayPort, 1));
  const signer = run.startService('signer', SIGNER_MAIN, run.signerEnv(shared, signerPort));
  await Promise.all([run.waitForHealth('gateway', gateway, gatewayPort), run.waitForHealth('signer', signer, signerPort)]);
  const base = `http://127.0.0.1:${gatewayPort}`;
  const key = await run.createOrg(base);
  const caId = (await createCa(base, key, { name: 'Readback', subject: { commonName: 'Readback Root' }, keyAlgorithm: 'ECDSA-P256' })).id;
  const ids = [];
  for (let i = 0; i < CERTIFICATES; i += 16) {
    const answers = await Promise.all(Array.from({ length: Math.min(16, CERTIFICATES - i) }, (_, j) =>
      api(base, 'POST', '/api/v1/certificates', key, { caId, commonName: `readback-${i + j}.example.test`, keyAlgorithm: 'ECDSA-P256' })));
    for (const a of answers) {
      if (a.status !== 201) throw new Error(`issue: ${a.status} ${JSON.stringify(a.json)}`);
      ids.push(a.json.certificate.id);
    }
  }

  const dataSource = await new DataSource(persistence.createDataSourceOptions(run.dbUrl.toString(), { poolSize: 1 })).initialize();
  try {
    const manager = dataSource.manager;
    const groups = [];
    for (let i = 0; i + GROUP <= ids.length; i += GROUP) groups.push(ids.slice(i, i + GROUP));
    const group = (i) => groups[i % groups.length];
    // What the outcome carries, as it crosses Redis: one JSON text per group.
    const rows = new Map();
    for (const g of groups) for (const [id, row] of await persistence.certificatesById(manager, g)) rows.set(id, row);
    const outcomes = groups.map((g) => JSON.stringify({ outcomes: g.map((id) => ({ certificateId: id, certificate: persistence.issuedCertificateOf(rows.get(id)) })) }));
    const outcomesBefore = groups.map((g) => JSON.stringify({ outcomes: g.map((id) => ({ certificateId: id })) }));

    log(`readback bench, ${machineLine()}`);
    log(`  ${ids.length} certificates (managed ECDSA-P256), groups of ${GROUP}, ${ROUNDS} rounds each, CPU of this process per certificate`);
    log(`  one outcome: ${Math.round(outcomes[0].length / GROUP)} characters of JSON with the row, ${Math.round(outcomesBefore[0].length / GROUP)} without`);
    for (let pass = 1; pass <= 3; pass++) {
      const readBack = await cpuPerCertificate(ROUNDS, async (i) => {
        JSON.parse(outcomesBefore[i % groups.length]);
        await persistence.certificatesById(manager, group(i));
      });
      const fromOutcome = await cpuPerCertificate(ROUNDS, async (i) => {
        for (const o of JSON.parse(outcomes[i % groups.length]).outcomes) persistence.issuedRowOf(o.certificate);
      });
      const signerSide = await cpuPerCertificate(ROUNDS, async (i) => {
        JSON.stringify({ outcomes: group(i).map((id) => ({ certificateId: id, certificate: persistence.issuedCertificateOf(rows.get(id)) })) });
      });
      // The signer's RETURNING of what the database filled in: the same columns, parsed by pg the same way (read here by a SELECT).
      const returning = await cpuPerCertificate(ROUNDS, (i) => manager.query(`SELECT id, ${FILLED} FROM certificates WHERE id = ANY($1)`, [group(i)]));
      log(`  pass ${pass}: producer, read back ${readBack.toFixed(1)} us; from the outcome ${fromOutcome.toFixed(1)} us (${(fromOutcome / readBack).toFixed(2)}x); `
        + `signer, the outcome's row and JSON ${signerSide.toFixed(1)} us, the RETURNING columns at most ${returning.toFixed(1)} us (a SELECT of them: its own round trip included)`);
    }
  } finally {
    await dataSource.destroy();
  }
}

run.main('bench/readback.js', main);
