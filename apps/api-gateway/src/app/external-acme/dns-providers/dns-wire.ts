/**
 * The DNS message format (RFC 1035 section 4, RFC 2136 section 2 for UPDATE), as much of it as dynamic
 * updates and SOA lookups need: names (written uncompressed; read with compression pointers), resource
 * records with raw RDATA, and whole messages. Written here rather than with dns-packet, which cannot
 * write the class NONE that an RFC 2136 "delete an RR from an RRset" needs, nor TSIG.
 */

export const TYPE = { NS: 2, SOA: 6, TXT: 16, TSIG: 250 } as const;
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const HEADER_LENGTH = 12;
/** Offset of ARCOUNT in the header. */
export const ARCOUNT_OFFSET = 10;

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE ${rcode}`;
}

export interface Question {
  name: string;
  type: number;
  klass: number;
}

export interface ResourceRecord extends Question {
  ttl: number;
  rdata: Buffer;
}

/** A record as read, with where it starts in the message (TSIG is verified over the bytes before it). */
export interface ReadRecord extends ResourceRecord {
  offset: number;
}

export interface MessageSpec {
  id: number;
  opcode: number;
  /** Recursion desired. */
  rd?: boolean;
  /** Zone section of an UPDATE. */
  questions: Question[];
  /** Prerequisite section of an UPDATE. */
  answers?: ResourceRecord[];
  /** Update section of an UPDATE. */
  authorities?: ResourceRecord[];
  additionals?: ResourceRecord[];
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  tc: boolean;
  rcode: number;
  questions: Question[];
  answers: ReadRecord[];
  authorities: ReadRecord[];
  additionals: ReadRecord[];
}

/** A name in wire form, uncompressed; `lowercase` gives the canonical form (RFC 4034 6.2) that TSIG signs. */
export function encodeName(name: string, lowercase = false): Buffer {
  const bare = name.replace(/\.$/, '');
  const labels = bare === '' ? [] : bare.split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(lowercase ? label.toLowerCase() : label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`the label "${label}" of ${name} cannot be written in DNS`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** A TXT RDATA: the value as character strings of at most 255 bytes (RFC 1035 3.3.14). */
export function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 255) {
    const chunk = bytes.subarray(at, at + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export function encodeRecord(record: ResourceRecord): Buffer {
  return Buffer.concat([encodeName(record.name), u16(record.type), u16(record.klass), u32(record.ttl), u16(record.rdata.length), record.rdata]);
}

export function encodeMessage(spec: MessageSpec): Buffer {
  const answers = spec.answers ?? [];
  const authorities = spec.authorities ?? [];
  const additionals = spec.additionals ?? [];
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(spec.id, 0);
  header.writeUInt16BE(((spec.opcode & 0xf) << 11) | (spec.rd ? 0x0100 : 0), 2);
  header.writeUInt16BE(spec.questions.length, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(authorities.length, 8);
  header.writeUInt16BE(additionals.length, ARCOUNT_OFFSET);
  const questions = spec.questions.map((q) => Buffer.concat([encodeName(q.name), u16(q.type), u16(q.klass)]));
  return Buffer.concat([header, ...questions, ...[...answers, ...authorities, ...additionals].map(encodeRecord)]);
}

/** Reads the name at `offset`, following compression pointers (forward or back, never in a loop). */
export function readName(message: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = offset;
  let next = -1;
  for (let jumps = 0; ; ) {
    if (at >= message.length) throw new Error('a name runs past the end of the message');
    const length = message[at];
    if (length === 0) {
      if (next < 0) next = at + 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      if (at + 1 >= message.length || ++jumps > 64) throw new Error('a name has a broken compression pointer');
      if (next < 0) next = at + 2;
      at = ((length & 0x3f) << 8) | message[at + 1];
      continue;
    }
    if (length > 63 || at + 1 + length > message.length) throw new Error('a name has a label past the end of the message');
    labels.push(message.subarray(at + 1, at + 1 + length).toString('utf8'));
    at += 1 + length;
  }
  return { name: labels.join('.'), next };
}

function readRecords(message: Buffer, offset: number, count: number): { records: ReadRecord[]; next: number } {
  const records: ReadRecord[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const start = at;
    const { name, next } = readName(message, at);
    if (next + 10 > message.length) throw new Error('a record runs past the end of the message');
    const rdlength = message.readUInt16BE(next + 8);
    if (next + 10 + rdlength > message.length) throw new Error('a record runs past the end of the message');
    records.push({
      offset: start,
      name,
      type: message.readUInt16BE(next),
      klass: message.readUInt16BE(next + 2),
      ttl: message.readUInt32BE(next + 4),
      rdata: message.subarray(next + 10, next + 10 + rdlength),
    });
    at = next + 10 + rdlength;
  }
  return { records, next: at };
}

/** Throws (with a plain message) on a message that is cut short or malformed. */
export function decodeMessage(message: Buffer): Message {
  if (message.length < HEADER_LENGTH) throw new Error('the message is shorter than a DNS header');
  const flags = message.readUInt16BE(2);
  const questions: Question[] = [];
  let at = HEADER_LENGTH;
  for (let i = 0; i < message.readUInt16BE(4); i++) {
    const { name, next } = readName(message, at);
    if (next + 4 > message.length) throw new Error('a question runs past the end of the message');
    questions.push({ name, type: message.readUInt16BE(next), klass: message.readUInt16BE(next + 2) });
    at = next + 4;
  }
  const answers = readRecords(message, at, message.readUInt16BE(6));
  const authorities = readRecords(message, answers.next, message.readUInt16BE(8));
  const additionals = readRecords(message, authorities.next, message.readUInt16BE(ARCOUNT_OFFSET));
  return {
    id: message.readUInt16BE(0),
    qr: (flags & FLAG_QR) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & FLAG_TC) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: answers.records,
    authorities: authorities.records,
    additionals: additionals.records,
  };
}
