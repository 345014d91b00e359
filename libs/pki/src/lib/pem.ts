/**
 * PEM (RFC 7468) in and out, strictly: base64 only between the boundaries, labels checked.
 *
 * Strict on purpose: the "lax" parsers of RFC 7468 section 2 (headers, stray text inside a block) are
 * how a request smuggles bytes past a reviewer who reads the PEM. Everything refused here is a
 * PkiError('invalid_encoding') naming what was expected.
 */
import { PkiError } from './errors';

const BLOCK = /-----BEGIN ([A-Z0-9 #]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** RFC 7468 "strict" output: 64-character lines, trailing newline. */
export function toPem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Padded standard base64 only (whitespace between characters allowed); Buffer.from alone would skip junk. */
function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!compact || compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new PkiError('invalid_encoding', `${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

/** Every PEM block in `text`, in order (chains, bundles). Text between blocks is ignored, as in chain files. */
export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ label: m[1], der: decodeBase64(m[2], `PEM block ${m[1]}`) }));
}

export interface FromPemOptions {
  /**
   * Take the first block whose label is wanted and ignore other blocks (e.g. a key file that also holds
   * "EC PARAMETERS"). Off by default: one block and nothing but whitespace around it.
   */
  allowOtherBlocks?: boolean;
}

/** Exactly one PEM block with one of `labels`; anything else around it except whitespace is refused. */
export function fromPem(text: string, labels: string[], options: FromPemOptions = {}): PemBlock {
  const blocks = [...text.matchAll(BLOCK)];
  const expected = labels.join(' or ');
  if (options.allowOtherBlocks) {
    const match = blocks.find((b) => labels.includes(b[1]));
    if (!match) throw new PkiError('invalid_encoding', `no PEM block (expected ${expected})`);
    return { label: match[1], der: decodeBase64(match[2], `PEM block ${match[1]}`) };
  }
  if (blocks.length !== 1) {
    throw new PkiError('invalid_encoding', blocks.length ? 'expected exactly one PEM block' : `no PEM block (expected ${expected})`);
  }
  const [whole, label, body] = blocks[0];
  if (text.replace(whole, '').trim()) throw new PkiError('invalid_encoding', 'unexpected text around the PEM block');
  if (!labels.includes(label)) throw new PkiError('invalid_encoding', `expected ${expected}, found ${label}`);
  return { label, der: decodeBase64(body, `PEM block ${label}`) };
}

/**
 * DER from PEM (with one of `labels`, any label when none are given), raw DER bytes, or bare base64 of
 * DER (as EST's application/pkcs10 sends it). Raw DER is recognised by its leading SEQUENCE tag: a PEM
 * text starts with '-' and base64 of a SEQUENCE with 'M', neither of which is 0x30.
 */
export function decodeInput(input: string | Buffer, labels?: string[]): Buffer {
  if (Buffer.isBuffer(input)) {
    if (input.length && input[0] === 0x30) return input;
    input = input.toString('latin1');
  }
  if (input.includes('-----BEGIN')) {
    if (labels) return fromPem(input, labels).der;
    const blocks = pemBlocks(input);
    if (blocks.length !== 1) throw new PkiError('invalid_encoding', 'expected exactly one PEM block');
    return fromPem(input, [blocks[0].label]).der;
  }
  if (!input.trim()) throw new PkiError('invalid_encoding', 'input is empty');
  return decodeBase64(input, 'input');
}
