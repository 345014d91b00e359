'use strict';
/**
 * One seeding thread of bench/inventory/seed.js: signs real leaf certificates with the signing lib
 * (dist/libs/pki) under the seed's CA keys and hands them back as COPY text rows of `certificates`,
 * every column derived from the same values the DER carries (serial, fingerprint, names, validity, key
 * algorithm, EKU, issuer DN).
 *
 * workerData: {count, seed, orgId, now, cas: [{id, derHex, keyPem, issuerDn, weight}], outside: [{derHex, keyPem, issuerDn, weight}],
 *              publicBaseUrl, chunk, keyPools: {<algorithm>: [SPKI DER, ...]}}
 * Posts {rows: string, n} per chunk and waits for 'more' (the main thread's backpressure), then {done: true}.
 */
const { parentPort, workerData } = require('node:worker_threads');
const { randomUUID } = require('node:crypto');
const path = require('node:path');
const pki = require(path.join(__dirname, '..', '..', 'dist', 'libs', 'pki', 'src'));
const { COLUMNS, pick, makeRandom, KEY_MIX, USAGE_MIX, VALIDITY_MIX, SOURCE_MIX, REASONS, nameFor } = require('./spread');

const DAY_MS = 86_400_000;
const { count, seed, orgId, now, cas, outside, publicBaseUrl, chunk, keyPools } = workerData;
const random = makeRandom(seed);

const issuers = (list) => list.map((ca) => ({ ...ca, issuer: pki.issuerOf(Buffer.from(ca.derHex, 'hex'), pki.importPrivateKey(ca.keyPem)) }));

/** COPY text: `\N` for null, arrays as {a,b} (LDH names need no quoting), bytea as \\x hex. */
const text = (v) => (v === null || v === undefined ? '\\N' : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n'));
const array = (list) => `{${list.join(',')}}`;

async function main() {
  const pools = Object.fromEntries(Object.entries(keyPools).map(([algorithm, keys]) => [algorithm, keys.map((key) => Buffer.from(key))]));
  const own = issuers(cas);
  const foreign = issuers(outside);
  let done = 0;
  while (done < count) {
    const lines = [];
    const n = Math.min(chunk, count - done);
    for (let i = 0; i < n; i++) lines.push(oneRow(pools, own, foreign));
    done += n;
    parentPort.postMessage({ rows: lines.join(''), n });
    await new Promise((resolve) => parentPort.once('message', resolve));
  }
  parentPort.postMessage({ done: true });
}

function oneRow(pools, own, foreign) {
  const source = pick(random, SOURCE_MIX);
  const fromOutside = source === 'imported' || source === 'discovered';
  const ca = pick(random, (fromOutside ? foreign : own).map((c) => [c, c.weight]));
  const keyAlgorithm = pick(random, KEY_MIX);
  const pool = pools[keyAlgorithm];
  const spki = pool[Math.floor(random() * pool.length)];
  const [usage, eku] = pick(random, USAGE_MIX);
  const validityDays = pick(random, VALIDITY_MIX);
  // Three years of history, denser towards now (an inventory grows): created = now - 3y * u^1.5.
  const createdAt = now - Math.floor(Math.pow(random(), 1.5) * 3 * 365 * DAY_MS);
  const notBefore = new Date(Math.floor((createdAt - 300_000) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + validityDays * DAY_MS);
  const { commonName, sanDns, organization } = nameFor(random);
  const subject = organization ? { organization, commonName } : { commonName };
  const certificate = pki.buildCertificateSync({
    kind: 'leaf',
    subject: pki.encodeName(subject),
    publicKey: spki,
    publicKeyAlgorithm: keyAlgorithm,
    issuer: ca.issuer,
    notBefore,
    notAfter,
    sans: pki.normalizeSubjectAltNames({ dns: sanDns }),
    extendedKeyUsage: eku,
    ...(fromOutside ? {} : { crlUrl: `${publicBaseUrl}/pki/cas/${ca.id}/crl`, ocspUrl: `${publicBaseUrl}/pki/ocsp`, caIssuersUrl: `${publicBaseUrl}/pki/cas/${ca.id}/ca.crt` }),
  });
  // 3% revoked, at some moment of their life up to now; imported ones are never revoked by Signet.
  const revoked = !fromOutside && random() < 0.03;
  const revokedAt = revoked ? new Date(notBefore.getTime() + random() * (Math.min(notAfter.getTime(), now) - notBefore.getTime())) : null;
  const values = {
    id: randomUUID(),
    org_id: orgId,
    ca_id: fromOutside ? null : ca.id,
    serial_number: certificate.serialNumber,
    fingerprint_sha256: certificate.fingerprintSha256,
    common_name: commonName,
    subject: JSON.stringify(subject),
    san_dns: array(sanDns),
    key_algorithm: keyAlgorithm,
    usage,
    extended_key_usage: array(eku),
    mode: fromOutside || random() < 0.7 ? 'csr' : 'managed',
    valid_from: certificate.notBefore.toISOString(),
    valid_to: certificate.notAfter.toISOString(),
    status: revoked ? 'revoked' : 'active',
    revoked_at: revokedAt && revokedAt.toISOString(),
    revocation_reason: revoked ? pick(random, REASONS) : null,
    auto_renew: !fromOutside && random() < 0.4,
    certificate_der: `\\x${certificate.der.toString('hex')}`,
    created_at: new Date(createdAt).toISOString(),
    source,
    issuer_dn: ca.issuerDn,
  };
  return `${COLUMNS.map((column) => (column === 'certificate_der' ? `\\${values[column]}` : text(values[column]))).join('\t')}\n`;
}

main().catch((error) => {
  parentPort.postMessage({ error: String(error && error.stack ? error.stack : error) });
});
