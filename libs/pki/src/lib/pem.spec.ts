import { PkiError } from './errors';
import { decodeInput, fromPem, pemBlocks, toPem } from './pem';

const der = Buffer.from('3003020101', 'hex');
const long = Buffer.alloc(100, 0x41);

describe('PEM', () => {
  it('writes 64-character lines and reads them back', () => {
    const pem = toPem('CERTIFICATE REQUEST', long);
    expect(pem.split('\n').slice(1, -2).every((line) => line.length <= 64)).toBe(true);
    expect(pem.endsWith('-----END CERTIFICATE REQUEST-----\n')).toBe(true);
    expect(fromPem(pem, ['CERTIFICATE REQUEST'])).toEqual({ label: 'CERTIFICATE REQUEST', der: long });
    expect(fromPem(`\r\n  ${pem.replace(/\n/g, '\r\n')}  \n`, ['X', 'CERTIFICATE REQUEST']).der).toEqual(long);
  });

  it.each([
    ['no block', 'just text', /no PEM block/],
    ['a wrong label', toPem('PRIVATE KEY', der), /expected CERTIFICATE, found PRIVATE KEY/],
    ['two blocks', toPem('CERTIFICATE', der) + toPem('CERTIFICATE', der), /exactly one/],
    ['text around', `hello\n${toPem('CERTIFICATE', der)}`, /around/],
    ['garbage after', `${toPem('CERTIFICATE', der)}garbage`, /around/],
    ['non-base64 body', '-----BEGIN CERTIFICATE-----\nAAA*\n-----END CERTIFICATE-----', /base64/],
    ['an RFC 1421 header', '-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMAMCAQE=\n-----END CERTIFICATE-----', /base64/],
    ['bad padding', '-----BEGIN CERTIFICATE-----\nMAMCAQ\n-----END CERTIFICATE-----', /base64/],
    ['an empty body', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', /base64/],
    ['mismatched END', '-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END X509 CRL-----', /no PEM block/],
  ])('refuses %s with invalid_encoding', (_, text, why) => {
    expect(() => fromPem(text, ['CERTIFICATE'])).toThrow(why);
    expect(() => fromPem(text, ['CERTIFICATE'])).toThrow(expect.objectContaining({ code: 'invalid_encoding' }));
  });

  it('picks one block out of a bundle only when told to', () => {
    const bundle = toPem('EC PARAMETERS', der) + toPem('EC PRIVATE KEY', long);
    expect(() => fromPem(bundle, ['EC PRIVATE KEY'])).toThrow(PkiError);
    expect(fromPem(bundle, ['EC PRIVATE KEY'], { allowOtherBlocks: true }).der).toEqual(long);
    expect(() => fromPem(bundle, ['CERTIFICATE'], { allowOtherBlocks: true })).toThrow(/no PEM block/);
  });

  it('splits chains into blocks, in order', () => {
    const chain = `leaf:\n${toPem('CERTIFICATE', der)}\nissuer:\n${toPem('CERTIFICATE', long)}`;
    expect(pemBlocks(chain)).toEqual([{ label: 'CERTIFICATE', der }, { label: 'CERTIFICATE', der: long }]);
    expect(pemBlocks('nothing here')).toEqual([]);
  });

  it('decodes PEM, raw DER and bare base64 alike', () => {
    const pem = toPem('CERTIFICATE REQUEST', der);
    for (const input of [pem, Buffer.from(pem), der, der.toString('base64'), ` ${der.toString('base64')}\n`, Buffer.from(der.toString('base64'))]) {
      expect(decodeInput(input, ['CERTIFICATE REQUEST'])).toEqual(der);
    }
    expect(decodeInput(toPem('ANYTHING', der))).toEqual(der);
    expect(() => decodeInput(toPem('CERTIFICATE', der), ['CERTIFICATE REQUEST'])).toThrow(PkiError);
    expect(() => decodeInput('   ')).toThrow(/empty/);
    expect(() => decodeInput('not base64!')).toThrow(expect.objectContaining({ code: 'invalid_encoding' }));
    expect(() => decodeInput(Buffer.from([0xff, 0x00]))).toThrow(PkiError);
  });
});
