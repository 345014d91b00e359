/**
 * A CRL of 1,000,000 revoked certificates built from a stream and signed by a P-256 CA, in the signing
 * lib alone (the signer's database-backed build is measured by the revocation bench).
 *
 *   node bench/run-ts.js bench/pki-crl.ts [--entries 1000000] [--page 1000] [--packed 20000]
 *
 * Without --page the source yields one entry per promise turn (the worst case for a cursor); with it,
 * pages of that many entries, as a database cursor fetching rows in batches would. With --packed, pages
 * of that many entries packed in one string (CrlEntryText), as the signer's PostgreSQL pages arrive
 * (string_agg): no object per entry.
 */
import { randomBytes } from 'node:crypto';
import { CrlEntry, CrlEntryText, REVOCATION_REASONS, RevocationReason, buildCertificate, buildCrl, generateKeyPair, issuerOf } from '@signet/pki';

const option = (name: string) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : 0);
const entries = option('--entries') || 1_000_000;
const page = option('--page');
const packed = option('--packed');
const REASONS: (RevocationReason | null)[] = [null, 'keyCompromise', 'superseded', 'cessationOfOperation'];

// Random serials drawn from a pool refilled 4,096 at a time: one getrandom call per entry cost more than
// the whole CRL encoding (53% of a profile), which measured the generator rather than the builder.
const POOL = 4096;
let pool = Buffer.alloc(0);
const entry = (i: number, revokedAt: Date): CrlEntry => {
  if (i % POOL === 0) pool = randomBytes(16 * POOL);
  const serial = pool.subarray((i % POOL) * 16, (i % POOL) * 16 + 16);
  serial[0] = (serial[0] & 0x3f) | 0x40; // positive, 16 bytes, as Signet's serials
  return { serialNumber: serial.toString('hex').toUpperCase(), revokedAt, reason: REASONS[i % 4] };
};

/** Entries made on the fly, like rows from a cursor: never all in memory. */
async function* revoked(count: number): AsyncGenerator<CrlEntry> {
  const revokedAt = new Date(Date.now() - 86_400_000);
  for (let i = 0; i < count; i++) yield entry(i, revokedAt);
}

/** The same, a page of rows per turn. */
async function* revokedPages(count: number, size: number): AsyncGenerator<CrlEntry[]> {
  const revokedAt = new Date(Date.now() - 86_400_000);
  for (let i = 0; i < count; i += size) yield Array.from({ length: Math.min(size, count - i) }, (_, j) => entry(i + j, revokedAt));
}

/** The same, pages packed in one string each (made before the clock starts would be unfair: made as they are asked for). */
async function* revokedPacked(count: number, size: number): AsyncGenerator<CrlEntryText> {
  const second = Math.floor((Date.now() - 86_400_000) / 1000);
  for (let i = 0; i < count; i += size) {
    const n = Math.min(size, count - i);
    const parts: string[] = [];
    for (let j = 0; j < n; j++) {
      const e = entry(i + j, new Date(second * 1000));
      parts.push(`${e.serialNumber} ${second} ${e.reason ? REVOCATION_REASONS[e.reason] : 0}`);
    }
    yield { packed: parts.join(','), count: n };
  }
}

const source = () => (packed ? revokedPacked(entries, packed) : page ? revokedPages(entries, page) : revoked(entries));

/** The source alone, drained without building: what the generator itself costs. */
async function sourceSeconds(): Promise<number> {
  const started = process.hrtime.bigint();
  let n = 0;
  for await (const item of source()) n += Array.isArray(item) ? item.length : 'packed' in item ? item.count : 1;
  if (n !== entries) throw new Error('short source');
  return Number(process.hrtime.bigint() - started) / 1e9;
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
    entries: source(),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRssMiB = (process.resourceUsage().maxRSS * 1024) / 2 ** 20;
  console.log(`CRL of ${crl.revokedCount} entries (P-256 CA, ${packed ? `packed pages of ${packed}` : page ? `pages of ${page}` : 'one entry per turn'}), Node ${process.version}: ${(crl.der.length / 2 ** 20).toFixed(1)} MiB DER`);
  console.log(`  build + sign ${seconds.toFixed(2)} s, peak RSS ${peakRssMiB.toFixed(0)} MiB (RSS before ${(rssBefore / 2 ** 20).toFixed(0)} MiB)`);
  // Measured after the build, so it cannot raise the peak RSS reported above.
  console.log(`  of which the entry source alone (drained without building): ~${(await sourceSeconds()).toFixed(2)} s`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
