/**
 * PEM (RFC 7468) in and out, strictly: base64 only between the boundaries, labels checked.
 */
import { PkiError } from './errors';

const BLOCK = /-----BEGIN ([A-Z0-9 #]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function toPem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!compact || compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new PkiError('invalid_encoding', `${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

/** Every PEM block in `text`, in order (chains, bundles). */
export function pemBlocks(text: string): { label: string; der: Buffer }[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ label: m[1], der: decodeBase64(m[2], `PEM block ${m[1]}`) }));
}

/** Exactly one PEM block with one of `labels`; anything else around it except whitespace is refused. */
export function fromPem(text: string, labels: string[]): { label: string; der: Buffer } {
  const blocks = [...text.matchAll(BLOCK)];
  if (blocks.length !== 1) {
    throw new PkiError('invalid_encoding', blocks.length ? 'expected exactly one PEM block' : `no PEM block (expected ${labels.join(' or ')})`);
  }
  const [whole, label, body] = blocks[0];
  if (text.replace(whole, '').trim()) throw new PkiError('invalid_encoding', 'unexpected text around the PEM block');
  if (!labels.includes(label)) throw new PkiError('invalid_encoding', `expected ${labels.join(' or ')}, found ${label}`);
  return { label, der: decodeBase64(body, `PEM block ${label}`) };
}

/** DER from PEM (with one of `labels`), raw DER bytes, or bare base64 of DER (as EST sends it). */
export function decodeInput(input: string | Buffer, labels: string[]): Buffer {
  if (Buffer.isBuffer(input)) {
    if (input.length && input[0] === 0x30) return input;
    input = input.toString('latin1');
  }
  if (input.includes('-----BEGIN')) return fromPem(input, labels).der;
  if (!input.trim()) throw new PkiError('invalid_encoding', 'input is empty');
  return decodeBase64(input, 'input');
}
