/**
 * Leaf issuance in the signing lib alone: parse and verify a CSR, build and sign the certificate,
 * encode PEM. One-core figure (sync crypto on the main thread) and two-core figure (async crypto on
 * libuv's thread pool); then key-pair generation per algorithm, with the event loop's worst stall.
 *
 *   node bench/run-ts.js bench/pki-issuance.ts [--seconds 3]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  KEY_ALGORITHMS, KeyAlgorithm, buildCertificate, buildCertificateSync, generateKeyPair, issuerOf, normalizeSubjectAltNames,
  parseCsr, parseCsrSync,
} from '@signet/pki';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const dir = mkdtempSync(join(tmpdir(), 'signet-bench-'));

const OPENSSL_KEY: Record<string, string[]> = {
  'ECDSA-P256': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'RSA-2048': ['-newkey', 'rsa:2048'],
  Ed25519: ['-newkey', 'ed25519'],
};

function csrs(algorithm: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const out = join(dir, `${algorithm}-${i}.csr`);
    const r = spawnSync('openssl', ['req', '-new', ...OPENSSL_KEY[algorithm], '-nodes', '-keyout', '/dev/null', '-subj', `/CN=host${i}.example.test`,
      '-addext', `subjectAltName=DNS:host${i}.example.test`, '-out', out]);
    if (r.status !== 0) throw new Error(r.stderr.toString());
    return readFileSync(out, 'utf8');
  });
}

async function ca(algorithm: KeyAlgorithm) {
  const keys = await generateKeyPair(algorithm);
  const now = Date.now();
  const root = await buildCertificate({
    kind: 'root', subject: { commonName: `Bench ${algorithm}` }, publicKey: keys.publicKey, selfSignKey: keys.privateKey,
    notBefore: new Date(now), notAfter: new Date(now + 3650 * 86_400_000),
  });
  return issuerOf(root.der, keys.privateKey);
}

const leafSpec = (issuer: Awaited<ReturnType<typeof ca>>, csr: ReturnType<typeof parseCsrSync>) => ({
  kind: 'leaf' as const,
  subject: csr.subjectDer,
  publicKey: csr.spkiDer,
  publicKeyAlgorithm: csr.keyAlgorithm,
  issuer,
  notBefore: new Date(),
  notAfter: new Date(Date.now() + 90 * 86_400_000),
  sans: normalizeSubjectAltNames({ dns: csr.sanDns }),
  crlUrl: 'http://127.0.0.1:3000/pki/cas/00000000-0000-0000-0000-000000000000/crl',
  ocspUrl: 'http://127.0.0.1:3000/pki/ocsp',
  caIssuersUrl: 'http://127.0.0.1:3000/pki/cas/00000000-0000-0000-0000-000000000000/ca.crt',
});

function oneCore(issuer: Awaited<ReturnType<typeof ca>>, pems: string[]): number {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 50; i++, n++) {
      const csr = parseCsrSync(pems[n % pems.length]);
      buildCertificateSync(leafSpec(issuer, csr)).pem.length;
    }
  }
  return n / seconds;
}

async function twoCores(issuer: Awaited<ReturnType<typeof ca>>, pems: string[], concurrency = 64): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const csr = await parseCsr(pems[n++ % pems.length]);
        (await buildCertificate(leafSpec(issuer, csr))).pem.length;
      }
    }),
  );
  return n / seconds;
}

async function keyGeneration(algorithm: KeyAlgorithm): Promise<{ perSecond: number; meanMs: number; maxStallMs: number }> {
  const count = algorithm === 'RSA-4096' ? 4 : algorithm.startsWith('RSA') ? 10 : 400;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await generateKeyPair(algorithm);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  delay.disable();
  return { perSecond: (count * 1000) / ms, meanMs: ms / count, maxStallMs: delay.max / 1e6 };
}

async function main() {
  console.log(`signing-lib issuance, ${seconds}s per figure, Node ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`);
  console.log('CA / CSR key     one core (sync)   two cores (async)');
  for (const algorithm of ['ECDSA-P256', 'RSA-2048', 'Ed25519'] as const) {
    const issuer = await ca(algorithm);
    const pems = csrs(algorithm, 20);
    oneCore(issuer, pems); // warm-up
    const sync = oneCore(issuer, pems);
    const async = await twoCores(issuer, pems);
    console.log(`${algorithm.padEnd(16)} ${sync.toFixed(0).padStart(8)}/s       ${async.toFixed(0).padStart(8)}/s`);
  }
  console.log('\nkey generation   per second   mean ms   worst event-loop stall ms');
  for (const algorithm of KEY_ALGORITHMS) {
    const r = await keyGeneration(algorithm);
    console.log(`${algorithm.padEnd(16)} ${r.perSecond.toFixed(1).padStart(10)}   ${r.meanMs.toFixed(2).padStart(7)}   ${r.maxStallMs.toFixed(1).padStart(8)}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
