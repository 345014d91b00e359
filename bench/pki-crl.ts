/**
 * A CRL of 1,000,000 revoked certificates built from a stream and signed by a P-256 CA, in the signing
 * lib alone (the signer's database-backed build is measured by the revocation bench).
 *
 *   node bench/run-ts.js bench/pki-crl.ts [--entries 1000000]
 */
import { randomBytes } from 'node:crypto';
import { CrlEntry, RevocationReason, buildCertificate, buildCrl, generateKeyPair, issuerOf } from '@signet/pki';

const entries = Number(process.argv[process.argv.indexOf('--entries') + 1]) || 1_000_000;
const REASONS: (RevocationReason | null)[] = [null, 'keyCompromise', 'superseded', 'cessationOfOperation'];

/** Entries made on the fly, like rows from a cursor: never all in memory. */
async function* revoked(count: number): AsyncGenerator<CrlEntry> {
  const revokedAt = new Date(Date.now() - 86_400_000);
  for (let i = 0; i < count; i++) {
    yield { serialNumber: randomBytes(16).toString('hex').toUpperCase().replace(/^[89A-F]/, '4'), revokedAt, reason: REASONS[i % 4] };
  }
}

async function main() {
  const keys = await generateKeyPair('ECDSA-P256');
  const now = Date.now();
  const root = await buildCertificate({
    kind: 'root', subject: { commonName: 'CRL bench' }, publicKey: keys.publicKey, selfSignKey: keys.privateKey,
    notBefore: new Date(now), notAfter: new Date(now + 3650 * 86_400_000),
  });
  const rssBefore = process.memoryUsage().rss;
  const started = process.hrtime.bigint();
  const crl = await buildCrl({
    issuer: issuerOf(root.der, keys.privateKey), crlNumber: 1, thisUpdate: new Date(now), nextUpdate: new Date(now + 7 * 86_400_000),
    entries: revoked(entries),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRssMiB = (process.resourceUsage().maxRSS * 1024) / 2 ** 20;
  console.log(`CRL of ${crl.revokedCount} entries (P-256 CA): ${(crl.der.length / 2 ** 20).toFixed(1)} MiB DER`);
  console.log(`  build + sign ${seconds.toFixed(2)} s, peak RSS ${peakRssMiB.toFixed(0)} MiB (RSS before ${(rssBefore / 2 ** 20).toFixed(0)} MiB)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
