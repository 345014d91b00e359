/**
 * Subject alternative names: validation, normalisation and the GeneralNames encoding.
 *
 *   GeneralName ::= CHOICE {
 *     rfc822Name                [1] IA5String,
 *     dNSName                   [2] IA5String,
 *     uniformResourceIdentifier [6] IA5String,
 *     iPAddress                 [7] OCTET STRING, ... }      -- RFC 5280 4.2.1.6
 */
import { isIP } from 'node:net';
import { children, content, readDer, sequence, implicitPrimitive } from './der';
import { PkiError } from './errors';

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const invalid = (kind: string, value: string, why: string) =>
  new PkiError('invalid_name', `invalid ${kind} "${value.length > 80 ? value.slice(0, 80) + '…' : value}": ${why}`);

/**
 * A DNS name as certificates must carry it: LDH labels, lowercase, no trailing dot; a wildcard only as
 * the whole leftmost label and never directly on a single-label name. Unicode must arrive as punycode
 * (A-labels) — silently converting it would issue a name the requester did not see.
 */
export function normalizeDnsName(name: string): string {
  if (typeof name !== 'string') throw invalid('DNS name', String(name), 'not a string');
  let n = name.trim().toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (!n) throw invalid('DNS name', name, 'empty');
  if (n.length > 253) throw invalid('DNS name', name, 'longer than 253 characters');
  if (/[^\x20-\x7e]/.test(n)) throw invalid('DNS name', name, 'contains non-ASCII characters (use the punycode A-label form)');
  const labels = n.split('.');
  labels.forEach((label, i) => {
    if (label === '*') {
      if (i !== 0) throw invalid('DNS name', name, 'a wildcard may only be the whole leftmost label');
      if (labels.length < 3) throw invalid('DNS name', name, 'a wildcard needs at least two labels after it');
      return;
    }
    if (label.includes('*')) throw invalid('DNS name', name, 'a wildcard may only be the whole leftmost label');
    if (label.length > 63) throw invalid('DNS name', name, 'a label is longer than 63 characters');
    if (!LABEL.test(label)) throw invalid('DNS name', name, 'labels are letters, digits and inner hyphens');
  });
  if (/^\d+$/.test(labels[labels.length - 1])) throw invalid('DNS name', name, 'the top-level label is numeric');
  return n;
}

/** Canonical text of an IPv4 (dotted decimal) or IPv6 (RFC 5952) address. */
export function normalizeIp(ip: string): string {
  const text = typeof ip === 'string' ? ip.trim() : '';
  const version = isIP(text);
  if (!version) throw invalid('IP address', String(ip), 'not an IPv4 or IPv6 address');
  if (text.includes('%')) throw invalid('IP address', text, 'a zone index (%...) means nothing outside the host that chose it');
  return version === 4 ? text.split('.').map(Number).join('.') : ipv6Text(ipToBytes(text));
}

/** 4 or 16 network-order bytes. */
export function ipToBytes(ip: string): Buffer {
  const version = isIP(ip);
  if (version === 4) return Buffer.from(ip.split('.').map(Number));
  // node:net accepts "fe80::1%eth0"; the zone has no place in the 16 bytes, so refuse rather than drop it.
  if (version !== 6 || ip.includes('%')) throw invalid('IP address', String(ip), 'not an IPv4 or IPv6 address');
  let text = ip;
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + ((b[0] << 8) | b[1]).toString(16) + ':' + ((b[2] << 8) | b[3]).toString(16);
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** RFC 5952 text of a 16-byte address: lowercase, longest zero run compressed. */
function ipv6Text(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** Text of an iPAddress GeneralName's 4 or 16 bytes. */
export function bytesToIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) return ipv6Text(bytes);
  throw new PkiError('invalid_name', `an iPAddress of ${bytes.length} bytes is neither IPv4 nor IPv6`);
}

/** An rfc822Name: addr-spec (dot-atom local part) at an LDH domain, the domain lowercased. */
export function normalizeEmail(email: string): string {
  const text = typeof email === 'string' ? email.trim() : '';
  const at = text.lastIndexOf('@');
  if (at < 1 || text.length > 254) throw invalid('e-mail address', String(email), 'expected local-part@domain');
  const local = text.slice(0, at);
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw invalid('e-mail address', text, 'the local part has characters an e-mail address cannot carry');
  }
  const domain = normalizeDnsName(text.slice(at + 1));
  if (domain.startsWith('*')) throw invalid('e-mail address', text, 'no wildcards in e-mail domains');
  return `${local}@${domain}`;
}

/** A uniformResourceIdentifier: an absolute URI (RFC 3986 scheme, then printable ASCII), as given. */
export function normalizeUri(uri: string): string {
  const text = typeof uri === 'string' ? uri.trim() : '';
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(text) || text.length > 2048) {
    throw invalid('URI', String(uri), 'expected an absolute URI (scheme:...) of printable ASCII');
  }
  return text;
}

const dedupe = (values: string[]) => [...new Set(values)];

/** The list under `kind`, or a typed refusal when a caller handed something that is not a list. */
function list(values: unknown, kind: string): string[] {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values)) throw new PkiError('invalid_name', `${kind} must be a list`);
  return values as string[];
}

/** Validate and normalise every name; duplicates (after normalisation) dropped, first order kept. */
export function normalizeSubjectAltNames(input: Partial<SubjectAltNames>): SubjectAltNames {
  return {
    dns: dedupe(list(input.dns, 'DNS names').map((n) => normalizeDnsName(n))),
    ip: dedupe(list(input.ip, 'IP addresses').map((n) => normalizeIp(n))),
    email: dedupe(list(input.email, 'e-mail addresses').map((n) => normalizeEmail(n))),
    uri: dedupe(list(input.uri, 'URIs').map((n) => normalizeUri(n))),
  };
}

export const isEmptySans = (s: SubjectAltNames) => !s.dns.length && !s.ip.length && !s.email.length && !s.uri.length;

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName — in the order dNSName, iPAddress, rfc822Name, URI. */
export function encodeGeneralNames(sans: SubjectAltNames): Buffer {
  return sequence(
    ...sans.dns.map((d) => implicitPrimitive(2, Buffer.from(d, 'ascii'))),
    ...sans.ip.map((ip) => implicitPrimitive(7, ipToBytes(ip))),
    ...sans.email.map((e) => implicitPrimitive(1, Buffer.from(e, 'ascii'))),
    ...sans.uri.map((u) => implicitPrimitive(6, Buffer.from(u, 'ascii'))),
  );
}

/** The four name forms Signet issues; other GeneralName forms (otherName, directoryName) are ignored. */
export function decodeGeneralNames(der: Buffer): SubjectAltNames {
  const out: SubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
  for (const name of children(readDer(der))) {
    const value = content(name);
    switch (name.tag) {
      case 0x82: out.dns.push(value.toString('latin1').toLowerCase()); break;
      case 0x87: out.ip.push(bytesToIp(value)); break;
      case 0x81: out.email.push(value.toString('latin1')); break;
      case 0x86: out.uri.push(value.toString('latin1')); break;
    }
  }
  return out;
}
