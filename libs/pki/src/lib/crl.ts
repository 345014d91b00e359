/**
 * CRL v2, built from a stream of entries.
 *
 *   CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier,
 *                                  signatureValue BIT STRING }
 *   TBSCertList ::= SEQUENCE {
 *     version Version (v2 = 1), signature AlgorithmIdentifier, issuer Name,
 *     thisUpdate Time, nextUpdate Time,
 *     revokedCertificates SEQUENCE OF SEQUENCE {
 *       userCertificate CertificateSerialNumber, revocationDate Time,
 *       crlEntryExtensions Extensions OPTIONAL } OPTIONAL,
 *     crlExtensions [0] EXPLICIT Extensions }                         -- RFC 5280 5.1
 *
 * Entries arrive as an async iterable (a database cursor) and are encoded straight into 1 MiB chunks,
 * byte by byte, with no per-entry Buffer: a million revoked serials cost the CRL's bytes (~43 MiB), not a
 * million objects. The chunks are concatenated once into the TBS, which is what the signature needs.
 */
import { SIGNATURE_SCHEMES, keyAlgorithmOf } from './algorithms';
import { Tag, bitString, explicit, integer, sequence, time, tlvHeader } from './der';
import { authorityKeyIdentifier, crlNumber, reasonCode } from './extensions';
import type { Issuer } from './certificate';
import { PkiError } from './errors';
import { REVOCATION_REASONS, RevocationReason } from './revocation-reasons';
import { signAsync } from './signing';

export interface CrlEntry {
  /** Uppercase (or lowercase) hex, as stored; at most 20 bytes (RFC 5280 4.1.2.2). */
  serialNumber: string;
  revokedAt: Date;
  reason?: RevocationReason | null;
}

export interface CrlSpec {
  issuer: Issuer;
  crlNumber: bigint | number;
  thisUpdate: Date;
  nextUpdate: Date;
  /**
   * The revoked certificates. A source may also yield arrays (a cursor's page of rows): that saves one
   * promise turn per entry, which is most of the cost of a per-entry async generator.
   */
  entries: AsyncIterable<CrlEntry | readonly CrlEntry[]> | Iterable<CrlEntry | readonly CrlEntry[]>;
}

export interface BuiltCrl {
  der: Buffer;
  revokedCount: number;
}

const CHUNK = 1024 * 1024;
/** An entry never exceeds this: SEQUENCE(2) + INTEGER(2+21) + GeneralizedTime(17) + reason extensions(16). */
const MAX_ENTRY = 64;

/**
 * The crlEntryExtensions of each reason, encoded once:
 *   Extensions ::= SEQUENCE { Extension { id-ce-cRLReasons, extnValue OCTET STRING { CRLReason ENUMERATED } } }
 */
const REASON_EXTENSIONS = new Map<number, Buffer>(
  Object.values(REVOCATION_REASONS).map((code) => [code, sequence(reasonCode(code))]),
);

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** Encodes entries into large chunks in place; only the chunks are kept. */
class EntryWriter {
  private chunks: Buffer[] = [];
  private current = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private readonly serial = Buffer.allocUnsafe(21);
  /** The last revocation second and its encoding: a cursor in revocation order repeats seconds often. */
  private lastSecond = NaN;
  private lastTime: Buffer = Buffer.alloc(0);
  length = 0;
  count = 0;

  write(entry: CrlEntry): void {
    const serialLength = this.readSerial(entry);
    const timeBytes = this.time(entry.revokedAt);
    const code = entry.reason ? REVOCATION_REASONS[entry.reason] : 0;
    if (code === undefined) throw new PkiError('invalid_request', `unknown revocation reason "${String(entry.reason)}" for serial ${entry.serialNumber}`);
    // RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent rather than present.
    const extensions = code ? REASON_EXTENSIONS.get(code)! : null;
    const bodyLength = 2 + serialLength + timeBytes.length + (extensions ? extensions.length : 0);

    if (this.used + MAX_ENTRY > this.current.length) {
      this.chunks.push(this.current.subarray(0, this.used));
      this.current = Buffer.allocUnsafe(CHUNK);
      this.used = 0;
    }
    const out = this.current;
    let at = this.used;
    // Every part is shorter than 128 bytes, so each length is one octet (X.690 8.1.3.4).
    out[at++] = Tag.SEQUENCE;
    out[at++] = bodyLength;
    out[at++] = Tag.INTEGER;
    out[at++] = serialLength;
    at += this.serial.copy(out, at, 0, serialLength);
    at += timeBytes.copy(out, at);
    if (extensions) at += extensions.copy(out, at);
    this.length += at - this.used;
    this.used = at;
    this.count++;
  }

  /** The serial's INTEGER content into this.serial: minimal, positive, 1..20 value bytes. */
  private readSerial(entry: CrlEntry): number {
    const hex = entry.serialNumber;
    if (typeof hex !== 'string' || hex.length === 0 || hex.length > 40) throw badSerial(hex);
    const odd = hex.length & 1;
    const byteCount = (hex.length + odd) >> 1;
    let first = -1;
    let written = 0;
    for (let i = 0; i < byteCount; i++) {
      const hi = i === 0 && odd ? 0 : HEX[hex.charCodeAt(2 * i - odd)];
      const lo = HEX[hex.charCodeAt(2 * i + 1 - odd)];
      if (hi === undefined || lo === undefined || hi < 0 || lo < 0) throw badSerial(hex);
      const byte = (hi << 4) | lo;
      if (first < 0 && byte === 0) continue; // leading zero bytes are not part of a minimal INTEGER
      if (first < 0) {
        first = byte;
        // A set high bit would read as negative: one zero byte in front (X.690 8.3.2).
        if (byte & 0x80) this.serial[written++] = 0;
      }
      this.serial[written++] = byte;
    }
    if (first < 0) throw badSerial(hex); // zero is not a serial a CA issues
    return written;
  }

  private time(date: Date): Buffer {
    const ms = date instanceof Date ? date.getTime() : NaN;
    if (!Number.isFinite(ms)) throw new PkiError('invalid_request', 'revokedAt must be a valid date');
    const second = Math.floor(ms / 1000);
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      this.lastTime = time(date);
    }
    return this.lastTime;
  }

  finish(): Buffer[] {
    return [...this.chunks, this.current.subarray(0, this.used)];
  }
}

const badSerial = (hex: unknown) =>
  new PkiError('invalid_request', `CRL entry serial "${String(hex).slice(0, 48)}" is not 1 to 20 bytes of non-zero hex`);

/** Everything but the signature: the DER of TBSCertList, assembled in one allocation. */
async function encodeTbs(spec: CrlSpec): Promise<{ tbs: Buffer; revokedCount: number }> {
  if (!(spec.nextUpdate?.getTime() > spec.thisUpdate?.getTime())) throw new PkiError('invalid_request', 'nextUpdate must be after thisUpdate');
  const writer = new EntryWriter();
  for await (const item of spec.entries as AsyncIterable<CrlEntry | readonly CrlEntry[]>) {
    if (Array.isArray(item)) for (const entry of item as readonly CrlEntry[]) writer.write(entry);
    else writer.write(item as CrlEntry);
  }
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(spec.issuer.privateKey)];
  const head = Buffer.concat([
    integer(1), // v2: required because the CRL carries extensions (RFC 5280 5.1.2.1)
    scheme.algorithmIdentifier,
    spec.issuer.subjectDer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
  ]);
  // revokedCertificates is absent, not empty, when nothing is revoked (RFC 5280 5.1.2.6).
  const revoked = writer.count ? [tlvHeader(Tag.SEQUENCE, writer.length), ...writer.finish()] : [];
  const extensions = explicit(0, sequence(authorityKeyIdentifier(spec.issuer.keyIdentifier), crlNumber(BigInt(spec.crlNumber))));
  const bodyLength = head.length + revoked.reduce((n, b) => n + b.length, 0) + extensions.length;
  const tbs = Buffer.concat([tlvHeader(Tag.SEQUENCE, bodyLength), head, ...revoked, extensions]);
  return { tbs, revokedCount: writer.count };
}

/** CertificateList around a signed TBS, in one allocation (the TBS may be tens of MiB). */
function wrap(tbs: Buffer, algorithmIdentifier: Buffer, signature: Buffer): Buffer {
  const tail = Buffer.concat([algorithmIdentifier, bitString(signature)]);
  return Buffer.concat([tlvHeader(Tag.SEQUENCE, tbs.length + tail.length), tbs, tail]);
}

/** Build and sign, the signature on libuv's thread pool. */
export async function buildCrl(spec: CrlSpec): Promise<BuiltCrl> {
  const { tbs, revokedCount } = await encodeTbs(spec);
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(spec.issuer.privateKey)];
  return { der: wrap(tbs, scheme.algorithmIdentifier, await signAsync(tbs, spec.issuer.privateKey, scheme)), revokedCount };
}
