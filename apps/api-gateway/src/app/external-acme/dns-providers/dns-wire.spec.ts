/**
 * The DNS wire format pieces that Knot's answers do not reach: long TXT values, names read through
 * compression pointers, and malformed input refused rather than misread.
 */
import { CLASS, decodeMessage, encodeMessage, encodeName, OPCODE, readName, TYPE, txtRdata } from './dns-wire';
import { canonicalName, relativeName, zoneCandidates } from './dns-names';

describe('DNS wire format', () => {
  it('splits a TXT value into character strings of at most 255 bytes', () => {
    const rdata = txtRdata('a'.repeat(300));
    expect(rdata.length).toBe(302);
    expect([rdata[0], rdata[256]]).toEqual([255, 45]);
    expect(txtRdata('')).toEqual(Buffer.from([0]));
  });

  it('writes an UPDATE as RFC 2136 lays it out, and reads it back', () => {
    const message = encodeMessage({
      id: 0x1234,
      opcode: OPCODE.UPDATE,
      questions: [{ name: 'example.com', type: TYPE.SOA, klass: CLASS.IN }],
      authorities: [{ name: '_acme-challenge.example.com', type: TYPE.TXT, klass: CLASS.NONE, ttl: 0, rdata: txtRdata('v') }],
    });
    expect(message.subarray(0, 12)).toEqual(Buffer.from([0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 1, 0, 0]));
    const read = decodeMessage(message);
    expect(read).toMatchObject({ id: 0x1234, qr: false, opcode: OPCODE.UPDATE, rcode: 0, questions: [{ name: 'example.com', type: TYPE.SOA, klass: CLASS.IN }] });
    expect(read.authorities).toMatchObject([{ name: '_acme-challenge.example.com', type: TYPE.TXT, klass: CLASS.NONE, ttl: 0, rdata: Buffer.from([1, 0x76]) }]);
  });

  it('follows compression pointers, and refuses a pointer loop or a name past the end', () => {
    const message = Buffer.concat([Buffer.alloc(12), encodeName('example.com'), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12])]);
    expect(readName(message, 25)).toEqual({ name: 'www.example.com', next: 31 });
    expect(() => readName(Buffer.from([0xc0, 0]), 0)).toThrow('a name has a broken compression pointer');
    expect(() => readName(Buffer.from([5, 0x61]), 0)).toThrow('a name has a label past the end of the message');
    expect(() => decodeMessage(Buffer.from([0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]))).toThrow('a record runs past the end of the message');
  });

  it('walks a name up to the zones that could hold it', () => {
    expect(zoneCandidates('_acme-challenge.WWW.example.com.')).toEqual(['_acme-challenge.www.example.com', 'www.example.com', 'example.com']);
    expect(zoneCandidates('a.test', 1)).toEqual(['a.test', 'test']);
    expect(relativeName('_acme-challenge.www.example.com.', 'example.com')).toBe('_acme-challenge.www');
    expect(relativeName('Example.com', 'example.com.')).toBe('@');
    expect(canonicalName(' Example.COM. ')).toBe('example.com');
  });
});
