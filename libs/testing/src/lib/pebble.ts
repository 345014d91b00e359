/**
 * Debian's `pebble` (Let's Encrypt's small RFC 8555 test CA) for the tests of obtaining from an outside
 * ACME CA: started on free loopback ports with a throwaway TLS certificate for its listener (made by
 * openssl; a client trusts it through `listenerCaFile`), its http-01 validations sent to `httpPort` and
 * its lookups to `dnsServer` (host:port), EAB required when `eabKeys` are given. Validation at full
 * speed: PEBBLE_VA_NOSLEEP=1, no deliberate badNonce, no authorization reuse. Its management port
 * gives its root (what the certificates it issues verify against) and a certificate's revocation status.
 * (bench/acme/pebble.js starts it the same way for the bench.)
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './service-process';

export interface PebbleServer {
  directoryUrl: string;
  /** PEM file of the CA of pebble's own TLS listener (for EXTERNAL_ACME_CA_FILE). */
  listenerCaFile: string;
  /** The root pebble signs under, PEM. */
  root(): Promise<string>;
  /** What pebble says of a certificate it issued: `Status` (Valid|Revoked) and `Reason`. */
  certificateStatus(serialNumberHex: string): Promise<{ Status: string; Reason?: number }>;
  log(): string;
  stop(): Promise<void>;
}

export const pebbleAvailable = (): string | null => {
  try {
    execFileSync('sh', ['-c', 'command -v pebble'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'pebble is not installed (Debian package pebble; .ci/run installs it)';
  }
};

export async function startPebble(options: { httpPort: number; dnsServer: string; eabKeys?: Record<string, string> }): Promise<PebbleServer> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-pebble-'));
  const [port, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const certFile = join(dir, 'listener.pem');
  const keyFile = join(dir, 'listener-key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=pebble test listener', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const config = join(dir, 'pebble-config.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${managementPort}`, certificate: certFile, privateKey: keyFile,
      httpPort: options.httpPort, tlsPort, ocspResponderURL: '',
      externalAccountBindingRequired: !!options.eabKeys, ...(options.eabKeys ? { externalAccountMACKeys: options.eabKeys } : {}),
    },
  }));
  const env = { PATH: process.env.PATH, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
  const child: ChildProcess = spawn('pebble', ['-config', config, '-dnsserver', options.dnsServer, '-strict=false'], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const agent = new Agent({ ca: readFileSync(certFile, 'utf8') });
  const fetchText = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      get(url, { agent }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  const management = `https://127.0.0.1:${managementPort}`;
  const server: PebbleServer = {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    listenerCaFile: certFile,
    async root() {
      return (await fetchText(`${management}/roots/0`)).body;
    },
    async certificateStatus(serialNumberHex) {
      const serial = BigInt(`0x${serialNumberHex}`).toString(16);
      const res = await fetchText(`${management}/cert-status-by-serial/${serial}`);
      if (res.status !== 200) throw new Error(`pebble knows no certificate ${serial}: HTTP ${res.status} ${res.body}`);
      return JSON.parse(res.body);
    },
    log: () => log,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pebble exited at start:\n${log}`);
    const up = await fetchText(server.directoryUrl).then((res) => res.status === 200, () => false);
    if (up) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`pebble did not answer ${server.directoryUrl} within 15 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
