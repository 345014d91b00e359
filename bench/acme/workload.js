'use strict';
/**
 * The ACME workload, the same client code for every server: one account of the kept client library
 * `acme-client`, and full issuances, each for a fresh DNS name: newOrder -> the authorization -> http-01
 * answered by the bench's own responder (challenge-server.js) -> finalize with a CSR -> download the
 * chain, N of them in flight at once, each phase timed on the client.
 *
 * What differs from acme-client's defaults, for every server alike (nothing of it changes the requests):
 * - a challenge (and a processing order) is polled every `pollMs`: acme-client ignores Retry-After there,
 *   and its default (5 s, then doubling) would measure the client's sleep, not the server;
 * - CSRs are built here (one P-256 key for all, the name in CN and SAN): acme-client's own `createCsr`
 *   costs ~8 ms of CPU each (pure-JS ASN.1 and WebCrypto), which on two shared cores would be taken from
 *   the servers under test; this one costs one ECDSA signature;
 * - the account key is handed to its signer as a KeyObject (newAccount), and HTTP has a timeout and no
 *   retries (configureAcmeHttp).
 */
const acme = require('acme-client');
const { fork } = require('node:child_process');
const { X509Certificate, createPrivateKey, generateKeyPairSync, sign } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { OID, bitString, encodeName, implicitConstructed, integer, oid, sequence, setOf, subjectAltName, toPem } = require('@signet/pki');
const { percentile } = require('../lib/harness');

const PHASES = ['newOrder', 'authz', 'challenge', 'finalize', 'download'];
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

/**
 * challenge-server.js as a child of `run` (lib/harness.js; its CPU counted as "challenges"), forked
 * through run-ts.js: { dns (host:port), httpPort, register(prefix, client) }. `register` makes the
 * responder answer for names `<prefix>-*` with the key authorizations of `client`'s account.
 */
async function startChallengeServer(run) {
  const out = fs.openSync(path.join(run.work, 'challenges.log'), 'a');
  const child = fork(path.join(__dirname, '..', 'run-ts.js'), [path.join(__dirname, 'challenge-server.js')], {
    env: { PATH: process.env.PATH }, stdio: ['ignore', out, out, 'ipc'],
  });
  run.adopt(child, 'challenges');
  const reply = (accept) => new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (!accept(message)) return;
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.exited.then(({ code }) => reject(new Error(`challenge-server exited (${code}): ${run.tail('challenges')}`)));
  });
  const { dns, httpPort } = await reply((message) => message.dns);
  return {
    dns,
    httpPort,
    async register(prefix, client) {
      const keyAuthorization = await client.getChallengeKeyAuthorization({ type: 'http-01', token: '-' });
      child.send({ prefix, thumbprint: keyAuthorization.slice(2) });
      await reply((message) => message.registered === prefix);
    },
  };
}

/** One P-256 key pair for the CSRs of a run (not the account key: servers refuse that in a CSR). */
function csrKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { spki: publicKey.export({ type: 'spki', format: 'der' }), privateKey };
}

/**
 * A PKCS#10 request (RFC 2986) for `name`: CN=name and an extensionRequest with subjectAltName dNSName.
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
 *     subjectPKInfo SubjectPublicKeyInfo, attributes [0] Attributes }
 */
function csrFor(name, key) {
  const san = subjectAltName({ dns: [name], ip: [], email: [], uri: [] }, false);
  const attributes = implicitConstructed(0, sequence(oid(EXTENSION_REQUEST), setOf(sequence(san))));
  const info = sequence(integer(0), encodeName({ commonName: name }), key.spki, attributes);
  const signature = sign('sha256', info, key.privateKey);
  return toPem('CERTIFICATE REQUEST', sequence(info, sequence(oid(OID.ecdsaWithSHA256)), bitString(signature)));
}

/**
 * acme-client's HTTP for the bench: keep-alive (the caller sets `httpsAgent` for a server with a test
 * certificate), no retries (its default waits 5 s and more before retrying a 5xx or 429: here that is
 * an error to count), and an answer within `timeoutMs` or an error (its default waits forever, which
 * would stall a worker of the closed loop). Returns a function giving the number of requests so far.
 */
function configureAcmeHttp(timeoutMs = 10_000) {
  acme.axios.defaults.httpAgent = new http.Agent({ keepAlive: true });
  acme.axios.defaults.timeout = timeoutMs;
  acme.axios.defaults.acmeSettings.retryMaxAttempts = 0;
  let requests = 0;
  acme.axios.interceptors.request.use((config) => {
    requests++;
    return config;
  });
  return () => requests;
}

/** An account on `directoryUrl` (no EAB) with a fresh P-256 key, polling every `pollMs` for up to 30 s. */
async function newAccount(directoryUrl, pollMs) {
  const accountKey = await acme.crypto.createPrivateEcdsaKey();
  const client = new acme.Client({ directoryUrl, accountKey, backoffAttempts: Math.ceil(30_000 / pollMs), backoffMin: pollMs, backoffMax: pollMs });
  // acme-client signs every JWS with the PEM, which OpenSSL 3 decodes again each time (~0.5 ms of CPU,
  // taken from the servers on two shared cores); the same key as a KeyObject signs the same bytes.
  client.http.accountKey = createPrivateKey(accountKey);
  await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:bench@bench.test'] });
  return client;
}

/**
 * One full issuance for `name`: { chain, leaf, ms (total), phases (ms each, PHASES order), doneAt }.
 * Throws with the failing phase named, also unless the chain's leaf names `name`, or when it is not
 * done within `deadlineMs` (acme-client cannot be cancelled: the abandoned flow ends on its own, its
 * polls bounded by `backoffAttempts` and each request by the HTTP timeout). The http-01 answer is the
 * challenge server's (registered for the account beforehand).
 */
async function issueOnce(client, name, key, deadlineMs = 60_000) {
  const marks = [performance.now()];
  const step = (value) => {
    marks.push(performance.now());
    return value;
  };
  const flow = async () => {
    const order = step(await client.createOrder({ identifiers: [{ type: 'dns', value: name }] }));
    const authorizations = step(await client.getAuthorizations(order));
    await Promise.all(authorizations.filter((authz) => authz.status !== 'valid').map(async (authz) => {
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) throw new Error('no http-01 challenge offered');
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }));
    step();
    let finalized = await client.finalizeOrder(order, csrFor(name, key));
    if (finalized.status !== 'valid') finalized = await client.waitForValidStatus(finalized);
    step();
    const chain = step(await client.getCertificate(finalized));
    const leaf = new X509Certificate(chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 25));
    if (!leaf.subjectAltName?.includes(`DNS:${name}`)) throw new Error(`the leaf names ${leaf.subjectAltName}, not ${name}`);
    const phases = PHASES.map((_, i) => marks[i + 1] - marks[i]);
    return { chain, leaf, ms: marks[marks.length - 1] - marks[0], phases, doneAt: marks[marks.length - 1] };
  };
  let timer;
  const expired = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${deadlineMs / 1000} s`)), deadlineMs);
  });
  try {
    return await Promise.race([flow(), expired]);
  } catch (error) {
    const detail = error.response?.data?.detail ?? error.message;
    throw new Error(`${PHASES[marks.length - 1] ?? 'check'}: ${String(detail).slice(0, 200)}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `concurrency` issuances in flight at once on `target` ({ client, key, names() }), each worker
 * starting its next as soon as its last ended. With `seconds`: the issuances that finished inside the
 * window count, over the window (the ones still in flight at its end finish but do not count); with
 * `count`: exactly that many, over the time they took. `onWindowEnd` runs when the window closes.
 */
async function closedLoop(target, { concurrency, seconds, count, onWindowEnd = () => undefined }) {
  const done = [];
  const errors = new Map();
  let started = 0;
  const t0 = performance.now();
  const end = count ? Infinity : t0 + seconds * 1000;
  const timer = count ? null : setTimeout(onWindowEnd, seconds * 1000);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (count ? started < count : performance.now() < end) {
      started++;
      try {
        const result = await issueOnce(target.client, target.names(), target.key);
        if (result.doneAt <= end) done.push(result);
      } catch (error) {
        errors.set(error.message, (errors.get(error.message) ?? 0) + 1);
      }
    }
  }));
  if (count) onWindowEnd();
  clearTimeout(timer);
  const elapsedMs = count ? performance.now() - t0 : seconds * 1000;
  return summarise(done, errors, elapsedMs, started);
}

function summarise(done, errors, elapsedMs, started) {
  const sorted = (values) => Float64Array.from(values).sort();
  const total = sorted(done.map((r) => r.ms));
  const phases = Object.fromEntries(PHASES.map((name, i) => {
    const values = sorted(done.map((r) => r.phases[i]));
    return [name, { p50: percentile(values, 0.5), p99: percentile(values, 0.99), mean: values.reduce((a, b) => a + b, 0) / (values.length || 1) }];
  }));
  return {
    ok: done.length,
    started,
    perSecond: (done.length * 1000) / elapsedMs,
    elapsedMs,
    p50: percentile(total, 0.5),
    p99: percentile(total, 0.99),
    max: total.length ? total[total.length - 1] : NaN,
    mean: total.reduce((a, b) => a + b, 0) / (total.length || 1),
    phases,
    errors: [...errors].reduce((n, [, c]) => n + c, 0),
    errorKinds: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 3),
  };
}

module.exports = { PHASES, startChallengeServer, csrKey, configureAcmeHttp, newAccount, issueOnce, closedLoop };
