/**
 * A small, strict DER (ITU-T X.690) writer and reader over Buffers.
 *
 * Why not node-forge's asn1 for everything: building a certificate out of forge's object tree and
 * serialising it costs more than the signature itself on the issuance hot path. Encoding straight to
 * Buffers keeps a leaf certificate to a handful of small allocations. forge stays in use for what
 * it does well (PKCS#7 / PKCS#12).
 *
 * The reader accepts DER only: definite, minimal lengths and no trailing bytes, because everything we
 * parse (CSRs, OCSP requests, certificates) is signed DER and BER leniency is an attack surface.
 */

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  UNIVERSAL_STRING: 0x1c,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export class DerError extends Error {
  override readonly name = 'DerError';
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Tag and length octets alone, for content that is written (or streamed) separately. */
export const tlvHeader = (tag: number, length: number): Buffer => Buffer.concat([Buffer.from([tag]), lengthBytes(length)]);

/** One TLV: tag byte, DER length, content. */
export function tlv(tag: number, content: Buffer): Buffer {
  const len = lengthBytes(content.length);
  const out = Buffer.allocUnsafe(1 + len.length + content.length);
  out[0] = tag;
  len.copy(out, 1);
  content.copy(out, 1 + len.length);
  return out;
}

export const sequence = (...items: Buffer[]): Buffer => tlv(Tag.SEQUENCE, Buffer.concat(items));

/** SET OF: DER wants the encodings sorted (X.690 11.6). */
export const setOf = (...items: Buffer[]): Buffer =>
  tlv(Tag.SET, Buffer.concat([...items].sort(Buffer.compare)));

/** An INTEGER from a non-negative bigint/number, or from unsigned big-endian bytes. */
export function integer(value: bigint | number | Buffer): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(value)) {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    bytes = value.subarray(i);
    if (bytes.length === 0) bytes = Buffer.from([0]);
  } else {
    let v = BigInt(value);
    if (v < 0n) throw new DerError('negative INTEGER is not supported');
    const hex = v.toString(16);
    bytes = Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex');
  }
  // A set high bit would read as negative: prefix a zero byte.
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(Tag.INTEGER, bytes);
}

export const enumerated = (value: number): Buffer => {
  const int = integer(value);
  int[0] = Tag.ENUMERATED;
  return int;
};

export const boolean = (value: boolean): Buffer => tlv(Tag.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0x00]);
export const octetString = (content: Buffer): Buffer => tlv(Tag.OCTET_STRING, content);
export const bitString = (content: Buffer, unusedBits = 0): Buffer =>
  tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), content]));
export const utf8String = (s: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(s, 'utf8'));
export const printableString = (s: string): Buffer => tlv(Tag.PRINTABLE_STRING, Buffer.from(s, 'ascii'));
export const ia5String = (s: string): Buffer => tlv(Tag.IA5_STRING, Buffer.from(s, 'ascii'));

/** [n] EXPLICIT: a constructed context tag wrapping one complete encoding. */
export const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);
/** [n] IMPLICIT for a primitive type: the content octets under a context tag. */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);
/** [n] IMPLICIT for a constructed type (SEQUENCE / SET): the content octets under a constructed context tag. */
export const implicitConstructed = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);

const oidCache = new Map<string, Buffer>();

/** OBJECT IDENTIFIER from dotted form; cached, because the same few OIDs appear in every certificate. */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new DerError(`bad OID ${dotted}`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new DerError(`bad OID ${dotted}`);
  const body: number[] = [];
  const pushArc = (arc: bigint) => {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    body.push(...chunk);
  };
  pushArc(arcs[0] * 40n + arcs[1]);
  for (const arc of arcs.slice(2)) pushArc(arc);
  const encoded = tlv(Tag.OID, Buffer.from(body));
  oidCache.set(dotted, encoded);
  return encoded;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** RFC 5280 4.1.2.5: UTCTime for years through 2049, GeneralizedTime from 2050; always Zulu, whole seconds. */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) + pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) + pad(date.getUTCSeconds()) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(pad(y % 100) + rest, 'ascii'));
  return generalizedTime(date);
}

/** GeneralizedTime, whole seconds, Zulu (as OCSP and CRL fields that are always GeneralizedTime want). */
export function generalizedTime(date: Date): Buffer {
  const s =
    pad(date.getUTCFullYear(), 4) + pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) +
    pad(date.getUTCHours()) + pad(date.getUTCMinutes()) + pad(date.getUTCSeconds()) + 'Z';
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(s, 'ascii'));
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** A parsed TLV: positions into the original buffer, no copies. */
export interface DerNode {
  readonly tag: number;
  /** offset of the tag byte */
  readonly start: number;
  /** offset of the first content byte */
  readonly contentStart: number;
  /** offset just past the last content byte */
  readonly end: number;
  readonly buffer: Buffer;
}

/** Read one TLV at `offset`, bounded by `limit` (default the buffer's end). */
export function readNode(buffer: Buffer, offset = 0, limit = buffer.length): DerNode {
  if (offset + 2 > limit) throw new DerError('truncated DER');
  const tag = buffer[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let length = buffer[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new DerError('indefinite length is not DER');
    if (count > 4) throw new DerError('length too large');
    if (contentStart + count > limit) throw new DerError('truncated DER');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buffer[contentStart + i];
    if (buffer[contentStart] === 0 || length < 0x80) throw new DerError('non-minimal length is not DER');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, start: offset, contentStart, end, buffer };
}

/** Parse a whole buffer as exactly one TLV: trailing bytes are an error. */
export function readDer(buffer: Buffer): DerNode {
  const node = readNode(buffer, 0, buffer.length);
  if (node.end !== buffer.length) throw new DerError('trailing data after DER value');
  return node;
}

export const content = (node: DerNode): Buffer => node.buffer.subarray(node.contentStart, node.end);
/** The complete encoding (tag, length and content) of a node, e.g. to hash or re-embed it. */
export const encoding = (node: DerNode): Buffer => node.buffer.subarray(node.start, node.end);

/** The child TLVs of a constructed node. */
export function children(node: DerNode): DerNode[] {
  if (!(node.tag & 0x20)) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let at = node.contentStart; at < node.end; ) {
    const child = readNode(node.buffer, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Assert a node's tag, with a message naming what was expected. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`expected ${what}`);
  return node;
}

export function readOid(node: DerNode): string {
  expectTag(node, Tag.OID, 'OBJECT IDENTIFIER');
  const bytes = content(node);
  if (bytes.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let value = 0n;
  for (let i = 0; i < bytes.length; i++) {
    if (value === 0n && bytes[i] === 0x80) throw new DerError('non-minimal OID arc');
    value = (value << 7n) | BigInt(bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      arcs.push(value);
      value = 0n;
    } else if (i === bytes.length - 1) throw new DerError('truncated OID');
  }
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join('.');
}

/** INTEGER content as unsigned big-endian bytes (leading sign zero removed). Rejects negatives. */
export function readUnsignedInteger(node: DerNode): Buffer {
  expectTag(node, Tag.INTEGER, 'INTEGER');
  const bytes = content(node);
  if (bytes.length === 0) throw new DerError('empty INTEGER');
  if (bytes[0] & 0x80) throw new DerError('negative INTEGER');
  return bytes.length > 1 && bytes[0] === 0 ? bytes.subarray(1) : bytes;
}

export function readSmallInteger(node: DerNode): number {
  const bytes = readUnsignedInteger(node);
  if (bytes.length > 6) throw new DerError('INTEGER too large');
  return bytes.readUIntBE(0, bytes.length);
}

/** BIT STRING content without the unused-bits byte; only whole-byte strings are accepted. */
export function readBitStringBytes(node: DerNode): Buffer {
  expectTag(node, Tag.BIT_STRING, 'BIT STRING');
  const bytes = content(node);
  if (bytes.length === 0 || bytes[0] !== 0) throw new DerError('BIT STRING with unused bits');
  return bytes.subarray(1);
}

/** UTCTime or GeneralizedTime in their RFC 5280 forms (Zulu, whole seconds). */
export function readTime(node: DerNode): Date {
  const s = content(node).toString('ascii');
  let m: RegExpMatchArray | null;
  if (node.tag === Tag.UTC_TIME && (m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  if (node.tag === Tag.GENERALIZED_TIME && (m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/))) {
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  throw new DerError('bad time value');
}

/** The text of any of the X.520 string types; BMPString is UTF-16BE. */
export function readString(node: DerNode): string {
  const bytes = content(node);
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return bytes.toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.T61_STRING:
      return bytes.toString('latin1');
    case Tag.BMP_STRING: {
      const swapped = Buffer.from(bytes);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    default:
      throw new DerError(`unsupported string type 0x${node.tag.toString(16)}`);
  }
}
