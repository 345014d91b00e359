/**
 * What a test checks on a certificate an ACME client got, the way a relying party would: `openssl
 * verify` against the profile's root (the client's chain file as the only intermediates), the names and
 * the purpose; `openssl ocsp` against the gateway's /pki/ocsp. Plus a static web root for clients that
 * write http-01 tokens to a directory (dehydrated's WELLKNOWN) and need someone to serve it.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { join } from 'node:path';
import type { ToolBox } from './acme-tools';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file, in order. */
export function pemCertificates(file: string): X509Certificate[] {
  return [...readFileSync(file, 'utf8').matchAll(PEM)].map((m) => new X509Certificate(m[0]));
}

/** The DNS names of a certificate's SAN, in order. */
export function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

export interface CaFiles {
  /** The profile's root, the one trust anchor. */
  rootFile: string;
  /** The profile's issuing CA (an OCSP request names it). */
  issuingFile: string;
}

/**
 * `openssl verify` of the leaf (first certificate of `certFile`) against `ca.rootFile`, with the
 * certificates of `chainFile` (what the client saved as the chain) as the only untrusted ones, for TLS
 * server use and each of `names`. Throws with openssl's words when it does not verify.
 */
export async function verifyIssued(tools: ToolBox, ca: CaFiles, certFile: string, chainFile: string, names: string[]): Promise<X509Certificate> {
  const leaf = pemCertificates(certFile)[0];
  if (!leaf) throw new Error(`${certFile} holds no certificate`);
  for (const name of names.length ? names : [undefined]) {
    const hostCheck = name ? ['-verify_hostname', name] : [];
    const result = await tools.run('openssl', ['verify', '-CAfile', ca.rootFile, '-untrusted', chainFile, '-purpose', 'sslserver', ...hostCheck, certFile]);
    if (result.code !== 0 || !result.stdout.includes(': OK')) throw new Error(tools.explain(result, `${certFile} does not verify${name ? ` for ${name}` : ''}`));
  }
  return leaf;
}

/** The OCSP status of `certFile`'s leaf as the gateway answers it (good, revoked, unknown), checked by openssl against the root. */
export async function ocspStatus(tools: ToolBox, ca: CaFiles, gatewayUrl: string, certFile: string): Promise<string> {
  const result = await tools.run('openssl', [
    'ocsp', '-issuer', ca.issuingFile, '-cert', certFile, '-url', `${gatewayUrl}/pki/ocsp`, '-CAfile', ca.rootFile, '-no_nonce', '-timeout', '10',
  ]);
  const verdict = result.output.match(/: (good|revoked|unknown)\b/);
  if (result.code !== 0 || !verdict || !/Response verify OK/.test(result.output)) throw new Error(tools.explain(result, 'no verified OCSP answer'));
  return verdict[1];
}

export interface WebRoot {
  /** What was asked for, in order (path). */
  requests: string[];
  close(): Promise<void>;
}

/** Serve `dir`'s /.well-known/acme-challenge/<token> files on 127.0.0.1:`port` (as a web server in front of dehydrated would). */
export async function serveWellKnown(dir: string, port: number): Promise<WebRoot> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    requests.push(path);
    const token = path.match(/^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/)?.[1];
    const file = token ? join(dir, token) : null;
    if (req.method !== 'GET' || !file || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export interface Handshake {
  /** openssl s_client verified the chain against the CA file and the name. */
  verified: boolean;
  /** The certificates the server sent, leaf first. */
  chain: X509Certificate[];
  output: string;
}

/** A TLS handshake with 127.0.0.1:`port` for `serverName` (SNI), checked by openssl s_client against `caFile`. */
export async function tlsHandshake(tools: ToolBox, port: number, serverName: string, caFile: string): Promise<Handshake> {
  const result = await tools.run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', serverName, '-showcerts', '-CAfile', caFile, '-verify_hostname', serverName, '-verify_return_error'],
    { timeoutMs: 20_000 },
  );
  const chain = [...result.stdout.matchAll(PEM)].map((m) => new X509Certificate(m[0]));
  return { verified: result.code === 0 && /Verify return code: 0 \(ok\)/.test(result.output), chain, output: result.output };
}
