import { decodeName, encodeName, formatName, validateName } from './distinguished-name';
import { oid, sequence, setOf, utf8String } from './der';
import { isPkiError } from './errors';
import { readFileSync } from 'node:fs';
import { buildCertificateSync, parseCertificate } from './certificate';
import { DAY, p256, scratch } from './testing/openssl-cli';

const { file, openssl, path } = scratch('dn');

const refusedAsInvalidName = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return isPkiError(error, 'invalid_name');
  }
  return false;
};

describe('encodeName', () => {
  it('writes one attribute per RDN, C first, UTF8String except PrintableString countryName (exact bytes)', () => {
    const der = encodeName({ commonName: 'a', country: 'DE' });
    expect(der.toString('hex')).toBe(
      '3019' +
        '310b' + '3009' + '0603550406' + '13024445' + // SET { SEQUENCE { countryName, PrintableString "DE" } }
        '310a' + '3008' + '0603550403' + '0c0161', // SET { SEQUENCE { commonName, UTF8String "a" } }
    );
  });

  it('orders C, ST, L, O, OU, CN whatever the record order, as openssl prints them', () => {
    const dn = { commonName: 'Zoë CA', organizationalUnit: 'PKI', organization: 'Signet', locality: 'Berlin', state: 'Berlin', country: 'DE' };
    const keys = p256();
    const cert = buildCertificateSync({
      kind: 'root', subject: dn, publicKey: keys.publicKey, selfSignKey: keys.privateKey, notBefore: new Date(), notAfter: new Date(Date.now() + DAY),
    });
    const subject = openssl('x509', '-in', file('dn.pem', cert.pem), '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb').out.trim();
    // RFC 2253 prints the most specific RDN first: the reverse of the encoding order.
    expect(subject).toBe('subject=CN=Zoë CA,OU=PKI,O=Signet,L=Berlin,ST=Berlin,C=DE');
    expect(decodeName(encodeName(dn))).toEqual(dn);
  });

  it('skips absent and empty attributes; an empty record is the empty Name', () => {
    expect(encodeName({}).toString('hex')).toBe('3000');
    expect(encodeName({ commonName: 'x', organization: '' })).toEqual(encodeName({ commonName: 'x' }));
  });

  it('enforces the RFC 5280 upper bounds (characters, not bytes)', () => {
    expect(() => encodeName({ commonName: 'é'.repeat(64) })).not.toThrow();
    expect(refusedAsInvalidName(() => encodeName({ commonName: 'x'.repeat(65) }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ organization: 'x'.repeat(65) }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ organizationalUnit: 'x'.repeat(65) }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ locality: 'x'.repeat(129) }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ state: 'x'.repeat(129) }))).toBe(true);
    expect(() => encodeName({ state: 'x'.repeat(128) })).not.toThrow();
  });

  it('wants a two-letter upper-case country code', () => {
    for (const country of ['de', 'DEU', 'D', 'D1', 'ÄÖ']) expect(refusedAsInvalidName(() => encodeName({ country }))).toBe(true);
    expect(() => validateName({ country: 'US' })).not.toThrow();
  });

  it('refuses blank values, control characters and non-strings', () => {
    expect(refusedAsInvalidName(() => encodeName({ commonName: '   ' }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ commonName: 'a\u0000b' }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ organization: 'line\nbreak' }))).toBe(true);
    expect(refusedAsInvalidName(() => encodeName({ commonName: 42 as unknown as string }))).toBe(true);
  });
});

describe('decodeName', () => {
  it('reads names openssl wrote, in any string type, skipping unknown attributes', () => {
    const r = openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
      '-subj', '/C=FR/ST=Île-de-France/O=Exemple/CN=ca.exemple.test/title=Chief', '-utf8', '-outform', 'DER', '-out', 'x.der');
    expect(r.ok).toBe(true);
    const cert = parseCertificate(readFileSync(path('x.der')));
    expect(cert.subject).toEqual({ country: 'FR', state: 'Île-de-France', organization: 'Exemple', commonName: 'ca.exemple.test' });
  });

  it('reports malformed DER as a DER error', () => {
    expect(() => decodeName(Buffer.from('3003310130', 'hex'))).toThrow();
  });
});

describe('formatName', () => {
  it('writes RFC 4514 strings as openssl -nameopt RFC2253 prints them: most specific first, specials escaped', () => {
    const r = openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-utf8',
      '-subj', '/C=DE/O=Acme, Inc. \\+ "Friends"/OU= lead#/CN=#Root <CA>; x/title=Chief/emailAddress=ops@example.com', '-out', 'fmt.pem');
    expect(r.ok).toBe(true);
    const printed = openssl('x509', '-in', 'fmt.pem', '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb').out.trim().replace(/^subject=/, '');
    expect(formatName(parseCertificate(readFileSync(path('fmt.pem'))).subjectDer)).toBe(printed);
    expect(printed).toBe('emailAddress=ops@example.com,title=Chief,CN=\\#Root \\<CA\\>\\; x,OU=\\ lead#,O=Acme\\, Inc. \\+ \\"Friends\\",C=DE');
  });

  it('writes what Signet encodes in reverse order, and an attribute without a short name as its OID and DER in hex', () => {
    expect(formatName(encodeName({ commonName: 'Issuing CA', organization: 'Acme', country: 'DE' }))).toBe('CN=Issuing CA,O=Acme,C=DE');
    expect(formatName(encodeName({}))).toBe('');
    expect(formatName(sequence(setOf(sequence(oid('1.2.3.4'), utf8String('xyz')))))).toBe('1.2.3.4=#0C0378797A');
  });
});
