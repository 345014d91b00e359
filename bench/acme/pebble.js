'use strict';
/**
 * Debian's `pebble` (Let's Encrypt's small ACME test server) as the reference peer of the ACME bench:
 * a throwaway TLS certificate for its listener (made here by openssl, trusted by the bench's client
 * alone), a config on free loopback ports whose http-01 port is the bench's responder, no EAB, and the
 * settings that make it validate at full speed: PEBBLE_VA_NOSLEEP=1 (no random 0-15 s sleep before a
 * validation), PEBBLE_WFE_NONCEREJECT=0 (no deliberate badNonce), PEBBLE_AUTHZREUSE=0 (every order
 * validates). Names resolve through the bench's DNS server (`-dnsserver`).
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const tls = require('node:tls');
const path = require('node:path');
const { freePort, sleep } = require('../lib/harness');

/** The pebble binary on PATH, or null. */
function pebbleBinary() {
  try {
    return execFileSync('sh', ['-c', 'command -v pebble'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Debian's package version of pebble (`dpkg-query`), or "unknown" elsewhere. */
function pebbleVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'pebble'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** A self-signed P-256 certificate for 127.0.0.1 and localhost: { certFile, keyFile, certPem }. */
function listenerCertificate(dir) {
  const certFile = path.join(dir, 'pebble-cert.pem');
  const keyFile = path.join(dir, 'pebble-key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=pebble bench listener', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8') };
}

/**
 * Starts pebble as a child of `run` (lib/harness.js: stopped at clean-up, CPU counted as "pebble"), its
 * http-01 validations going to 127.0.0.1:`httpPort` and its lookups to `dnsAddress` (host:port). Resolves
 * once its directory answers: { directoryUrl, httpsAgent (trusting its listener), env }.
 */
async function startPebble(run, { httpPort, dnsAddress }) {
  const [port, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const { certFile, keyFile, certPem } = listenerCertificate(run.work);
  const config = path.join(run.work, 'pebble-config.json');
  fs.writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certFile,
      privateKey: keyFile,
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }, null, 2));
  const env = { PATH: process.env.PATH, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
  const out = fs.openSync(path.join(run.work, 'pebble.log'), 'a');
  const child = spawn(pebbleBinary(), ['-config', config, '-dnsserver', dnsAddress, '-strict=false'], { env, stdio: ['ignore', out, out], cwd: run.work });
  run.adopt(child, 'pebble');
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  // One TLS context for every connection: given `ca` instead, the agent builds one per connection.
  const httpsAgent = new https.Agent({ secureContext: tls.createSecureContext({ ca: certPem }), keepAlive: true });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`pebble exited (${child.exitCode}): ${run.tail('pebble')}`);
    const up = await new Promise((resolve) => {
      https.get(directoryUrl, { agent: httpsAgent }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).on('error', () => resolve(false));
    });
    if (up) return { directoryUrl, httpsAgent, env };
    await sleep(50);
  }
  throw new Error(`pebble did not answer ${directoryUrl} in 10 s: ${run.tail('pebble')}`);
}

module.exports = { pebbleBinary, pebbleVersion, startPebble };
