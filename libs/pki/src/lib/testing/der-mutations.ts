/**
 * Test support only (the `@signet/pki/testing` entry, never `@signet/pki`): mutations of DER for the
 * fuzz suites (issue 18). A mutation is data (what fast-check generates and prints when a case fails),
 * applied deterministically to a DER buffer:
 *
 *   raw byte edits      flip a bit, set a byte, truncate, insert or delete bytes, damage a length octet
 *   structural edits    on one TLV of the tree (encapsulated DER in OCTET and BIT STRINGs included), the
 *                       ancestors' lengths re-encoded so the damage is deep inside a well-formed outside:
 *                       garbage content, a duplicate, a removal, another tag, a wrap in a new TLV,
 *                       non-minimal / indefinite lengths, random DER nested where the node was.
 *
 * Every index is taken modulo what it indexes, so any integer is a valid mutation of any input.
 */
import fc from 'fast-check';
import { KeyObject, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OID } from '../algorithms';
import { bitString, children, encoding, implicitConstructed, integer, octetString, oid, readDer, sequence, setOf, tlv, utf8String } from '../der';

/** A TLV read leniently (unlike der.ts, BER-ish input is tolerated so mutants can be mutated again). */
interface Tlv {
  /** The identifier octets as they were (multi-byte tags kept whole). */
  tag: Buffer;
  /** Content as bytes, or as child TLVs (constructed; or DER encapsulated in an OCTET/BIT STRING after `prefix`). */
  content: Buffer | Tlv[];
  /** BIT STRING's unused-bits octet before encapsulated DER. */
  prefix?: Buffer;
  /** An explicit length encoding to write instead of the minimal one (a mutation's). */
  rawLength?: Buffer;
}

export type DerMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'length'; node: number; value: number }
  | { kind: 'garbage'; node: number; bytes: number[] }
  | { kind: 'nest'; node: number; depth: number; tag: number }
  | { kind: 'duplicate'; node: number; times: number }
  | { kind: 'remove'; node: number }
  | { kind: 'retag'; node: number; tag: number }
  | { kind: 'long-length'; node: number; extra: number }
  | { kind: 'indefinite'; node: number }
  | { kind: 'huge-length'; node: number };

function readTlv(buf: Buffer, at: number, limit: number): { tlv: Tlv; end: number } | null {
  let p = at;
  if (p >= limit) return null;
  if ((buf[p++] & 0x1f) === 0x1f) {
    while (p < limit && buf[p] & 0x80) p++;
    p++;
  }
  if (p >= limit) return null;
  const tag = buf.subarray(at, p);
  let length = buf[p++];
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || p + count > limit) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[p + i];
    p += count;
  }
  const end = p + length;
  if (end > limit) return null;
  const bytes = buf.subarray(p, end);
  const constructed = (tag[0] & 0x20) !== 0;
  if (constructed) {
    const kids = readAll(bytes);
    return { tlv: { tag, content: kids ?? bytes }, end };
  }
  // DER inside a primitive string (extension values, a key in a BIT STRING): mutate it as a tree too.
  if (tag.length === 1 && tag[0] === 0x04 && bytes.length >= 2) {
    const kids = readAll(bytes);
    if (kids?.length === 1) return { tlv: { tag, content: kids }, end };
  }
  if (tag.length === 1 && tag[0] === 0x03 && bytes.length >= 3 && bytes[0] === 0) {
    const kids = readAll(bytes.subarray(1));
    if (kids?.length === 1) return { tlv: { tag, content: kids, prefix: bytes.subarray(0, 1) }, end };
  }
  return { tlv: { tag, content: bytes }, end };
}

function readAll(buf: Buffer): Tlv[] | null {
  const out: Tlv[] = [];
  for (let at = 0; at < buf.length; ) {
    const next = readTlv(buf, at, buf.length);
    if (!next) return null;
    out.push(next.tlv);
    at = next.end;
  }
  return out;
}

function minimalLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const bodyOf = (tlv: Tlv): Buffer =>
  Buffer.isBuffer(tlv.content) ? tlv.content : Buffer.concat([tlv.prefix ?? Buffer.alloc(0), ...tlv.content.map(write)]);

function write(tlv: Tlv): Buffer {
  const body = bodyOf(tlv);
  return Buffer.concat([tlv.tag, tlv.rawLength ?? minimalLength(body.length), body]);
}

/** Every TLV of the tree in preorder, with the list that holds it (for duplicates and removals). */
function nodesOf(roots: Tlv[]): { tlv: Tlv; siblings: Tlv[] }[] {
  const out: { tlv: Tlv; siblings: Tlv[] }[] = [];
  const walk = (list: Tlv[]) => {
    for (const tlv of list) {
      out.push({ tlv, siblings: list });
      if (!Buffer.isBuffer(tlv.content)) walk(tlv.content);
    }
  };
  walk(roots);
  return out;
}

const byte = (n: number) => ((n % 256) + 256) % 256;
const pick = (n: number, length: number) => ((n % length) + length) % length;

/** Deterministic DER of `depth` levels under `tag` (each level an INTEGER and the level below): nested garbage. */
function nested(depth: number, tag: number): Buffer {
  let inner = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < depth; i++) {
    const body = Buffer.concat([Buffer.from([0x02, 0x01, byte(i)]), inner]);
    inner = Buffer.concat([Buffer.from([i % 2 ? 0x30 : byte(tag) | 0x20]), minimalLength(body.length), body]);
  }
  return inner;
}

/** `der` with one mutation applied. */
export function mutateDer(der: Buffer, m: DerMutation): Buffer {
  const len = der.length;
  switch (m.kind) {
    case 'flip': {
      if (!len) return der;
      const out = Buffer.from(der);
      out[pick(m.at, len)] ^= 1 << pick(m.bit, 8);
      return out;
    }
    case 'set': {
      if (!len) return der;
      const out = Buffer.from(der);
      out[pick(m.at, len)] = byte(m.value);
      return out;
    }
    case 'truncate':
      return der.subarray(0, pick(m.at, len + 1));
    case 'insert': {
      const at = pick(m.at, len + 1);
      return Buffer.concat([der.subarray(0, at), Buffer.from(m.bytes.map(byte)), der.subarray(at)]);
    }
    case 'delete': {
      const at = pick(m.at, len + 1);
      return Buffer.concat([der.subarray(0, at), der.subarray(at + Math.max(1, m.count))]);
    }
    default:
      return mutateTree(der, m);
  }
}

function mutateTree(der: Buffer, m: Exclude<DerMutation, { kind: 'flip' | 'set' | 'truncate' | 'insert' | 'delete' }>): Buffer {
  const roots = readAll(der);
  // Not DER at all (a mutant of a mutant): fall back to a byte edit at the same place.
  if (!roots?.length) return mutateDer(der, { kind: 'set', at: m.node, value: m.kind === 'retag' ? m.tag : m.node });
  const nodes = nodesOf(roots);
  const { tlv, siblings } = nodes[pick(m.node, nodes.length)];
  switch (m.kind) {
    case 'length': {
      // The length octet(s) of this node alone changed: ancestors are left as they were (a lie inside).
      const encoded = write(tlv);
      const head = tlv.tag.length;
      const out = Buffer.from(der);
      const at = der.indexOf(encoded);
      if (at >= 0) out[at + head] = byte(m.value);
      return out;
    }
    case 'garbage':
      tlv.content = Buffer.from(m.bytes.map(byte));
      delete tlv.prefix;
      break;
    case 'nest':
      tlv.content = nested(Math.max(1, Math.min(m.depth, 200)), m.tag);
      delete tlv.prefix;
      break;
    case 'duplicate':
      siblings.splice(siblings.indexOf(tlv), 0, ...Array.from({ length: Math.max(1, Math.min(m.times, 50)) }, () => tlv));
      break;
    case 'remove':
      siblings.splice(siblings.indexOf(tlv), 1);
      break;
    case 'retag':
      tlv.tag = Buffer.from([byte(m.tag)]);
      break;
    case 'long-length': {
      // The right length, with leading zero octets: BER allows it, DER does not.
      const size = bodyOf(tlv).length;
      const digits = minimalLength(size);
      const bytes = digits.length === 1 ? [size] : [...digits.subarray(1)];
      const padded = [...Array(Math.max(1, Math.min(m.extra, 3))).fill(0), ...bytes];
      tlv.rawLength = Buffer.from([0x80 | padded.length, ...padded]);
      break;
    }
    case 'indefinite':
      tlv.rawLength = Buffer.from([0x80]);
      break;
    case 'huge-length':
      tlv.rawLength = Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff]);
      break;
  }
  return Buffer.concat(roots.map(write));
}

/** One mutation, any kind, with indexes fast-check shrinks toward the start of the input. */
export const derMutation = (): fc.Arbitrary<DerMutation> => {
  const at = fc.nat({ max: 1 << 16 });
  const bytes = fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 40 });
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat({ max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at, value: fc.nat({ max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes }),
    fc.record({ kind: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('length' as const), node: at, value: fc.nat({ max: 255 }) }),
    fc.record({ kind: fc.constant('garbage' as const), node: at, bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 200 }) }),
    fc.record({ kind: fc.constant('nest' as const), node: at, depth: fc.integer({ min: 1, max: 200 }), tag: fc.nat({ max: 255 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), node: at, times: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ kind: fc.constant('remove' as const), node: at }),
    fc.record({ kind: fc.constant('retag' as const), node: at, tag: fc.nat({ max: 255 }) }),
    fc.record({ kind: fc.constant('long-length' as const), node: at, extra: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('indefinite' as const), node: at }),
    fc.record({ kind: fc.constant('huge-length' as const), node: at }),
  );
};

/** One to `max` mutations in a row (a mutant of a mutant reaches states one edit does not). */
export const derMutations = (max = 3): fc.Arbitrary<DerMutation[]> => fc.array(derMutation(), { minLength: 1, maxLength: max });

export const applyDerMutations = (der: Buffer, mutations: DerMutation[]): Buffer => mutations.reduce(mutateDer, der);

/**
 * A CSR whose CertificationRequestInfo is mutated and then signed again with the request's own key
 * (same signature algorithm: ECDSA/RSA PKCS#1 v1.5 with SHA-256, or Ed25519): the mutant passes the
 * signature check, so what reads the request's content is what gets fuzzed.
 */
export function resignedCsrMutant(csrDer: Buffer, key: KeyObject, mutations: DerMutation[]): Buffer {
  const [info, algorithm] = children(readDer(csrDer));
  const mutant = applyDerMutations(encoding(info), mutations);
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return sequence(mutant, encoding(algorithm), bitString(sign(digest, mutant, key)));
}

/** A signed P-256 CSR (DER) for CN `commonName` whose one SAN is a GeneralName of `tag` (0x82 dNSName, 0x86 URI, ...) with `bytes` as is. */
export function sanBytesCsr(commonName: string, tag: number, bytes: Buffer): Buffer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const san = sequence(oid('2.5.29.17'), octetString(sequence(tlv(tag, bytes))));
  const extensionRequest = implicitConstructed(0, sequence(oid('1.2.840.113549.1.9.14'), setOf(sequence(san))));
  const subject = sequence(setOf(sequence(oid('2.5.4.3'), utf8String(commonName))));
  const info = sequence(integer(0), subject, publicKey.export({ type: 'spki', format: 'der' }), extensionRequest);
  return sequence(info, sequence(oid(OID.ecdsaWithSHA256)), bitString(sign('sha256', info, privateKey)));
}

/** The requests of testdata/fuzz with their (test-only) keys: fixed bytes, so a FUZZ_SEED replays exactly. */
export function fuzzSeedRequests(): { name: string; der: Buffer; pem: string; key: KeyObject }[] {
  const dir = join(__dirname, '../../../testdata/fuzz');
  return ['p256', 'ed25519', 'rsa2048'].map((name) => {
    const pem = readFileSync(join(dir, `${name}.csr.pem`), 'utf8');
    const base64 = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    return { name, pem, der: Buffer.from(base64, 'base64'), key: createPrivateKey(readFileSync(join(dir, `${name}.key`))) };
  });
}

/** The seed of a fuzz run: FUZZ_SEED to replay one, else a fresh one (print it). */
export const fuzzSeed = (): number => {
  const given = process.env.FUZZ_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 0x7fffffff);
};

/** FUZZ_RUNS_SCALE multiplies every surface's case count (1, the default, is CI's). */
export const fuzzRuns = (base: number): number => Math.max(1, Math.round(base * Number(process.env.FUZZ_RUNS_SCALE ?? 1)));

/** Counts per surface for the test output: cases, and how often each outcome was seen. */
export class FuzzTally {
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly cases = new Map<string, number>();

  see(surface: string, outcome: string | number): void {
    this.cases.set(surface, (this.cases.get(surface) ?? 0) + 1);
    const outcomes = this.counts.get(surface) ?? new Map<string, number>();
    outcomes.set(String(outcome), (outcomes.get(String(outcome)) ?? 0) + 1);
    this.counts.set(surface, outcomes);
  }

  total(surface: string): number {
    return this.cases.get(surface) ?? 0;
  }

  report(title: string, seed: number): string {
    const lines = [`${title} (FUZZ_SEED=${seed} replays this run)`];
    for (const [surface, outcomes] of this.counts) {
      const seen = [...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([o, n]) => `${o}: ${n}`).join(', ');
      lines.push(`  ${surface}: ${this.cases.get(surface)} cases; ${seen}`);
    }
    return lines.join('\n');
  }
}
