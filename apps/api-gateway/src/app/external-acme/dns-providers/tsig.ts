/**
 * TSIG (RFC 8945): a request signed with a shared HMAC key, and the answer's signature checked.
 *
 * The MAC of a request covers the message as it is before the TSIG record (its ARCOUNT not counting it)
 * followed by the TSIG variables (section 4.3.3): the key name (canonical wire form), class ANY, TTL 0,
 * the algorithm name (canonical wire form), time signed (48 bits), fudge, error, other len, other data.
 * The MAC of the answer (section 5.3) covers the request's MAC (its length as 16 bits, then the MAC),
 * the answer as it was before its TSIG record was added (ARCOUNT one less, the ID the original ID), and
 * the answer's TSIG variables. The TSIG record itself: the key name, type TSIG, class ANY, TTL 0, and RDATA
 * algorithm name, time signed, fudge, MAC size, MAC, original ID, error, other len, other data.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TsigAlgorithm } from './dns-provider-config';
import { ARCOUNT_OFFSET, CLASS, encodeName, Message, readName, TYPE } from './dns-wire';

export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** The window either side of "time signed" (RFC 8945 recommends 300 s). */
export const FUDGE_SECONDS = 300;

const HASH: Record<TsigAlgorithm, string> = { 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512', 'hmac-sha1': 'sha1' };

const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

export function tsigErrorName(error: number): string {
  return TSIG_ERRORS[error] ?? `error ${error}`;
}

interface TsigFields {
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

const time48 = (seconds: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(seconds / 2 ** 32), 0);
  b.writeUInt32BE(seconds % 2 ** 32, 2);
  return b;
};
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

/** The TSIG variables of section 4.3.3, in the order they are digested. */
function variables(key: TsigKey, fields: Omit<TsigFields, 'mac' | 'originalId'>): Buffer {
  return Buffer.concat([
    encodeName(key.name, true),
    u16(CLASS.ANY),
    Buffer.alloc(4), // TTL 0
    encodeName(fields.algorithm, true),
    time48(fields.timeSigned),
    u16(fields.fudge),
    u16(fields.error),
    u16(fields.other.length),
    fields.other,
  ]);
}

const hmac = (key: TsigKey, parts: Buffer[]): Buffer => {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const part of parts) h.update(part);
  return h.digest();
};

/** `message` with a TSIG record added (ARCOUNT raised), and the MAC, which the answer's signature covers. */
export function signMessage(message: Buffer, key: TsigKey, now = Date.now()): { signed: Buffer; mac: Buffer } {
  const fields = { algorithm: key.algorithm, timeSigned: Math.floor(now / 1000), fudge: FUDGE_SECONDS, error: 0, other: Buffer.alloc(0) };
  const mac = hmac(key, [message, variables(key, fields)]);
  const rdata = Buffer.concat([
    encodeName(fields.algorithm, true),
    time48(fields.timeSigned),
    u16(fields.fudge),
    u16(mac.length),
    mac,
    message.subarray(0, 2), // original ID
    u16(fields.error),
    u16(0),
  ]);
  const record = Buffer.concat([encodeName(key.name, true), u16(TYPE.TSIG), u16(CLASS.ANY), Buffer.alloc(4), u16(rdata.length), rdata]);
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(ARCOUNT_OFFSET) + 1, ARCOUNT_OFFSET);
  return { signed, mac };
}

function readTsig(message: Buffer, rdataOffset: number, rdataLength: number): TsigFields {
  const { name: algorithm, next } = readName(message, rdataOffset);
  let at = next;
  const end = rdataOffset + rdataLength;
  if (at + 10 > end) throw new Error('the TSIG record is cut short');
  const timeSigned = message.readUInt16BE(at) * 2 ** 32 + message.readUInt32BE(at + 2);
  const fudge = message.readUInt16BE(at + 6);
  const macSize = message.readUInt16BE(at + 8);
  at += 10;
  if (at + macSize + 6 > end) throw new Error('the TSIG record is cut short');
  const mac = message.subarray(at, at + macSize);
  at += macSize;
  const originalId = message.readUInt16BE(at);
  const error = message.readUInt16BE(at + 2);
  const otherLength = message.readUInt16BE(at + 4);
  at += 6;
  if (at + otherLength > end) throw new Error('the TSIG record is cut short');
  return { algorithm, timeSigned, fudge, mac, originalId, error, other: message.subarray(at, at + otherLength) };
}

/** The TSIG record of an answer (the last additional record), or null when it is not signed. */
export function answerTsig(raw: Buffer, message: Message): (TsigFields & { keyName: string; offset: number }) | null {
  const last = message.additionals[message.additionals.length - 1];
  if (!last || last.type !== TYPE.TSIG) return null;
  const rdataOffset = last.rdata.byteOffset - raw.byteOffset;
  return { ...readTsig(raw, rdataOffset, last.rdata.length), keyName: last.name, offset: last.offset };
}

/** Why the answer's signature does not hold, or null when it does. */
export function verifyAnswer(raw: Buffer, message: Message, key: TsigKey, requestMac: Buffer, now = Date.now()): string | null {
  const tsig = answerTsig(raw, message);
  if (!tsig) return 'the answer is not signed with TSIG';
  if (tsig.keyName.toLowerCase() !== key.name.toLowerCase()) return `the answer is signed with another key (${tsig.keyName})`;
  if (tsig.algorithm.toLowerCase() !== key.algorithm) return `the answer is signed with another algorithm (${tsig.algorithm})`;
  if (tsig.error !== 0) return `the answer's TSIG carries ${tsigErrorName(tsig.error)}`;
  const unsigned = Buffer.from(raw.subarray(0, tsig.offset));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(ARCOUNT_OFFSET) - 1, ARCOUNT_OFFSET);
  const expected = hmac(key, [u16(requestMac.length), requestMac, unsigned, variables(key, tsig)]);
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) return "the answer's TSIG MAC does not verify";
  if (Math.abs(Math.floor(now / 1000) - tsig.timeSigned) > tsig.fudge) return `the answer was signed at ${tsig.timeSigned}, outside the fudge of ${tsig.fudge} s`;
  return null;
}
