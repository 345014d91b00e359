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
 * Entries arrive as an async iterable (a database cursor) and are encoded straight into the one buffer
 * the finished CRL is cut from: the headers in front are written last, right-aligned before the entries
 * (their lengths are known only then), the TBS is signed where it lies, and the outer SEQUENCE's header
 * goes in front of it. A million revoked serials cost the CRL's bytes once (~47 MiB), not a million
 * objects, nor a second and third copy for the TBS and the CertificateList. A source can hand over a
 * page of entries packed in one string (CrlEntryText), as a database aggregates them: then not even the
 * rows become objects.
 */
import { SIGNATURE_SCHEMES, keyAlgorithmOf } from './algorithms';
import { Tag, bitString, explicit, integer, sequence, time, tlvHeader } from './der';
import { authorityKeyIdentifier, crlNumber, issuingDistributionPoint, reasonCode } from './extensions';
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

/**
 * A page of entries packed in one string, as a database aggregates rows (string_agg) so that a page
 * crosses the driver as one value: for each entry `<serial hex> <revocation time in whole seconds since
 * the epoch> <RFC 5280 CRLReason code, 0 for unspecified>`, entries separated by ','. `count` is how
 * many entries the text holds (checked).
 */
export interface CrlEntryText {
  packed: string;
  count: number;
}

/** RFC 5280 5.2.5: which distribution point a CRL covers (a shard of the CA's certificates). */
export interface CrlScope {
  /** The URI of the distribution point, byte for byte as the certificates' CRLDistributionPoints name it. */
  url: string;
  /** The CRL lists end-entity certificates only (no CA certificates can be on it). */
  onlyContainsUserCerts?: boolean;
}

export interface CrlSpec {
  issuer: Issuer;
  crlNumber: bigint | number;
  thisUpdate: Date;
  nextUpdate: Date;
  /**
   * The revoked certificates. A source may also yield arrays (a cursor's page of rows) or packed pages:
   * that saves one promise turn per entry, which is most of the cost of a per-entry async generator.
   */
  entries: AsyncIterable<CrlEntry | readonly CrlEntry[] | CrlEntryText> | Iterable<CrlEntry | readonly CrlEntry[] | CrlEntryText>;
  /** Absent: a full CRL (no IssuingDistributionPoint). Present: a partitioned CRL for that distribution point. */
  scope?: CrlScope;
  /** Entries expected (the last CRL's count, say): the buffer is reserved for them at once instead of grown. */
  expectedEntries?: number;
}

export interface BuiltCrl {
  der: Buffer;
  revokedCount: number;
}

/** An entry never exceeds this: SEQUENCE(2) + INTEGER(2+21) + GeneralizedTime(17) + reason extensions(16). */
const MAX_ENTRY = 64;
/** Room behind the TBS for signatureAlgorithm and the BIT STRING of the largest signature (RSA-4096). */
const MAX_TAIL = 32 + 6 + 1 + 512;

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
const SPACE = 32;
const COMMA = 44;

/**
 * Encodes entries into one growing buffer, leaving `front` bytes free before them for the headers.
 * Nothing per entry is allocated: serial, time and reason are written byte by byte.
 */
class EntryWriter {
  buffer: Buffer;
  readonly start: number;
  end: number;
  count = 0;
  private readonly serial = Buffer.allocUnsafe(21);
  /** The last revocation second and its encoding (UTCTime or GeneralizedTime TLV) in `timeBytes`. */
  private lastSecond = NaN;
  private readonly timeBytes = Buffer.allocUnsafe(17);
  private timeLength = 0;

  constructor(front: number, expectedEntries: number) {
    // allocUnsafe: pages the entries never reach are never touched, so a generous reservation costs no memory.
    this.buffer = Buffer.allocUnsafe(front + Math.max(4096, Math.ceil(expectedEntries * 1.1) * MAX_ENTRY) + MAX_TAIL);
    this.start = front;
    this.end = front;
  }

  get length(): number {
    return this.end - this.start;
  }

  /** Room for `bytes` more at the end, moving to a larger buffer (1.5x) when needed. */
  reserve(bytes: number): void {
    if (this.end + bytes <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.end + bytes, Math.floor(this.buffer.length * 1.5)));
    this.buffer.copy(larger, this.start, this.start, this.end);
    this.buffer = larger;
  }

  write(entry: CrlEntry): void {
    const hex = entry.serialNumber;
    if (typeof hex !== 'string') throw badSerial(hex);
    const ms = entry.revokedAt instanceof Date ? entry.revokedAt.getTime() : NaN;
    if (!Number.isFinite(ms)) throw new PkiError('invalid_request', 'revokedAt must be a valid date');
    const code = entry.reason ? REVOCATION_REASONS[entry.reason] : 0;
    if (code === undefined) throw new PkiError('invalid_request', `unknown revocation reason "${String(entry.reason)}" for serial ${entry.serialNumber}`);
    this.put(hex, 0, hex.length, Math.floor(ms / 1000), code);
  }

  /** A packed page (CrlEntryText): parsed in place, one pass over the characters. */
  writePacked(page: CrlEntryText): void {
    const text = page.packed;
    if (typeof text !== 'string') throw new PkiError('invalid_request', 'a packed CRL page must be a string');
    const before = this.count;
    let at = 0;
    while (at < text.length) {
      const serialEnd = text.indexOf(' ', at);
      if (serialEnd < 0) throw badPacked(text, at);
      let second = 0;
      let i = serialEnd + 1;
      let digits = 0;
      for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
        second = second * 10 + (c - 48);
        digits++;
      }
      if (!digits || digits > 15 || text.charCodeAt(i) !== SPACE) throw badPacked(text, at);
      let code = 0;
      digits = 0;
      for (let c = text.charCodeAt(++i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
        code = code * 10 + (c - 48);
        digits++;
      }
      if (!digits || (i < text.length && text.charCodeAt(i) !== COMMA)) throw badPacked(text, at);
      if (code && !REASON_EXTENSIONS.has(code)) throw new PkiError('invalid_request', `unknown revocation reason code ${code}`);
      this.put(text, at, serialEnd, second, code);
      at = i + 1;
    }
    if (this.count - before !== page.count) throw new PkiError('invalid_request', `a packed CRL page said ${page.count} entries and held ${this.count - before}`);
  }

  private put(hex: string, from: number, to: number, second: number, code: number): void {
    const serialLength = this.readSerial(hex, from, to);
    this.encodeTime(second);
    // RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent rather than present.
    const extensions = code ? REASON_EXTENSIONS.get(code)! : null;
    const bodyLength = 2 + serialLength + this.timeLength + (extensions ? extensions.length : 0);
    this.reserve(MAX_ENTRY);
    const out = this.buffer;
    let at = this.end;
    // Every part is shorter than 128 bytes, so each length is one octet (X.690 8.1.3.4).
    out[at++] = Tag.SEQUENCE;
    out[at++] = bodyLength;
    out[at++] = Tag.INTEGER;
    out[at++] = serialLength;
    at += this.serial.copy(out, at, 0, serialLength);
    at += this.timeBytes.copy(out, at, 0, this.timeLength);
    if (extensions) at += extensions.copy(out, at);
    this.end = at;
    this.count++;
  }

  /** The serial's INTEGER content into this.serial: minimal, positive, 1..20 value bytes. */
  private readSerial(hex: string, from: number, to: number): number {
    const length = to - from;
    if (length === 0 || length > 40) throw badSerial(hex.slice(from, to));
    const odd = length & 1;
    const byteCount = (length + odd) >> 1;
    let first = -1;
    let written = 0;
    for (let i = 0; i < byteCount; i++) {
      const hi = i === 0 && odd ? 0 : HEX[hex.charCodeAt(from + 2 * i - odd)];
      const lo = HEX[hex.charCodeAt(from + 2 * i + 1 - odd)];
      if (hi === undefined || lo === undefined || hi < 0 || lo < 0) throw badSerial(hex.slice(from, to));
      const byte = (hi << 4) | lo;
      if (first < 0 && byte === 0) continue; // leading zero bytes are not part of a minimal INTEGER
      if (first < 0) {
        first = byte;
        // A set high bit would read as negative: one zero byte in front (X.690 8.3.2).
        if (byte & 0x80) this.serial[written++] = 0;
      }
      this.serial[written++] = byte;
    }
    if (first < 0) throw badSerial(hex.slice(from, to)); // zero is not a serial a CA issues
    return written;
  }

  /** The revocation second as der.ts's time() encodes it, without a Date or a Buffer per entry. */
  private encodeTime(second: number): void {
    if (second === this.lastSecond) return;
    if (!Number.isSafeInteger(second) || second < -62135596800 || second > 253402300799) {
      throw new PkiError('invalid_request', 'revokedAt must be a valid date');
    }
    this.lastSecond = second;
    const days = Math.floor(second / 86400);
    let rest = second - days * 86400;
    const hour = Math.floor(rest / 3600);
    rest -= hour * 3600;
    const minute = Math.floor(rest / 60);
    const sec = rest - minute * 60;
    // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
    const z = days + 719468;
    const era = Math.floor(z / 146097);
    const doe = z - era * 146097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    // RFC 5280 4.1.2.5 (and 5.1.2.6): UTCTime through 2049, GeneralizedTime from 2050.
    const utc = year >= 1950 && year < 2050;
    const out = this.timeBytes;
    let at = 0;
    out[at++] = utc ? Tag.UTC_TIME : Tag.GENERALIZED_TIME;
    out[at++] = utc ? 13 : 15;
    const two = (n: number) => {
      out[at++] = 48 + Math.floor(n / 10);
      out[at++] = 48 + (n % 10);
    };
    if (!utc) two(Math.floor(year / 100));
    two(year % 100);
    two(month);
    two(day);
    two(hour);
    two(minute);
    two(sec);
    out[at++] = 0x5a; // 'Z'
    this.timeLength = at;
  }
}

const badSerial = (hex: unknown) =>
  new PkiError('invalid_request', `CRL entry serial "${String(hex).slice(0, 48)}" is not 1 to 20 bytes of non-zero hex`);
const badPacked = (text: string, at: number) =>
  new PkiError('invalid_request', `a packed CRL page is malformed near "${text.slice(at, at + 48)}"`);

const isPacked = (item: unknown): item is CrlEntryText => typeof (item as CrlEntryText).packed === 'string';

/** The largest DER header (tag and a length of up to 2^32): what is kept free in front of each part. */
const MAX_HEADER = 6;

/** Build and sign: the entries encoded once into the buffer the CRL is cut from, the signature on libuv's thread pool. */
export async function buildCrl(spec: CrlSpec): Promise<BuiltCrl> {
  if (!(spec.nextUpdate?.getTime() > spec.thisUpdate?.getTime())) throw new PkiError('invalid_request', 'nextUpdate must be after thisUpdate');
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(spec.issuer.privateKey)];
  const head = Buffer.concat([
    integer(1), // v2: required because the CRL carries extensions (RFC 5280 5.1.2.1)
    scheme.algorithmIdentifier,
    spec.issuer.subjectDer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
  ]);
  const crlExtensions = [authorityKeyIdentifier(spec.issuer.keyIdentifier), crlNumber(BigInt(spec.crlNumber))];
  if (spec.scope) crlExtensions.push(issuingDistributionPoint(spec.scope.url, { onlyContainsUserCerts: spec.scope.onlyContainsUserCerts }));
  const extensions = explicit(0, sequence(...crlExtensions));

  // In front of the entries: CertificateList, TBSCertList and revokedCertificates headers, and the head.
  const writer = new EntryWriter(3 * MAX_HEADER + head.length, Math.max(0, Math.floor(spec.expectedEntries ?? 0)));
  for await (const item of spec.entries as AsyncIterable<CrlEntry | readonly CrlEntry[] | CrlEntryText>) {
    if (Array.isArray(item)) for (const entry of item as readonly CrlEntry[]) writer.write(entry);
    else if (isPacked(item)) writer.writePacked(item);
    else writer.write(item as CrlEntry);
  }

  // revokedCertificates is absent, not empty, when nothing is revoked (RFC 5280 5.1.2.6).
  const revokedHeader = writer.count ? tlvHeader(Tag.SEQUENCE, writer.length) : Buffer.alloc(0);
  const tbsHeader = tlvHeader(Tag.SEQUENCE, head.length + revokedHeader.length + writer.length + extensions.length);
  writer.reserve(extensions.length + MAX_TAIL);
  const out = writer.buffer;
  let tbsStart = writer.start - revokedHeader.length;
  revokedHeader.copy(out, tbsStart);
  tbsStart -= head.length;
  head.copy(out, tbsStart);
  tbsStart -= tbsHeader.length;
  tbsHeader.copy(out, tbsStart);
  let end = writer.end + extensions.copy(out, writer.end);
  const tbsEnd = end;

  const tail = Buffer.concat([scheme.algorithmIdentifier, bitString(await signAsync(out.subarray(tbsStart, tbsEnd), spec.issuer.privateKey, scheme))]);
  if (tail.length > MAX_TAIL) throw new PkiError('invalid_request', 'the signature is larger than any supported key makes');
  end += tail.copy(out, end);
  const outerHeader = tlvHeader(Tag.SEQUENCE, end - tbsStart);
  const start = tbsStart - outerHeader.length;
  outerHeader.copy(out, start);
  return { der: out.subarray(start, end), revokedCount: writer.count };
}

/**
 * The shard of a CA's CRL a certificate is listed on, by its serial: the serial's last 32 bits modulo
 * the shard count. Stable for a serial and count, and even (serials are random), so shards stay equal.
 */
export function crlShardOf(serialHex: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new PkiError('invalid_request', 'the shard count must be a positive integer');
  const low = serialHex.slice(-8);
  const value = Number.parseInt(low, 16);
  if (!/^[0-9a-fA-F]+$/.test(low) || !Number.isFinite(value)) throw badSerial(serialHex);
  return value % shards;
}
