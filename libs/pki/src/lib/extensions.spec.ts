import { readFileSync } from 'node:fs';
import { parseCertificate } from './certificate';
import { isPkiError } from './errors';
import {
  authorityInfoAccess, authorityKeyIdentifier, basicConstraints, crlDistributionPoints, crlNumber, extKeyUsage,
  extendedKeyUsageOid, keyIdentifier, keyUsage, nameConstraints, reasonCode, subjectAltName, subjectKeyIdentifier,
} from './extensions';
import { normalizeSubjectAltNames } from './general-names';
import { scratch } from './testing/openssl-cli';

const hex = (b: Buffer) => b.toString('hex');
const ascii = (s: string) => Buffer.from(s, 'ascii').toString('hex');

describe('extensions, exact DER (Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue })', () => {
  it('basicConstraints: critical; cA TRUE with pathLen, and the empty SEQUENCE for an end entity', () => {
    expect(hex(basicConstraints(true, 0))).toBe('3012' + '0603551d13' + '0101ff' + '0408' + '30060101ff020100');
    expect(hex(basicConstraints(true))).toBe('300f' + '0603551d13' + '0101ff' + '0405' + '30030101ff');
    // cA DEFAULT FALSE is omitted in DER (X.690 11.5), leaving an empty SEQUENCE.
    expect(hex(basicConstraints(false))).toBe('300c' + '0603551d13' + '0101ff' + '0402' + '3000');
  });

  it('keyUsage: critical, a named-bit BIT STRING without trailing zero bits', () => {
    expect(hex(keyUsage(['digitalSignature']))).toBe('300e' + '0603551d0f' + '0101ff' + '0404' + '03020780');
    expect(hex(keyUsage(['digitalSignature', 'keyEncipherment']))).toBe('300e' + '0603551d0f' + '0101ff' + '0404' + '030205a0');
    expect(hex(keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']))).toBe('300e' + '0603551d0f' + '0101ff' + '0404' + '03020186');
  });

  it('extKeyUsage: not critical; names or dotted OIDs', () => {
    expect(hex(extKeyUsage(['serverAuth', 'clientAuth']))).toBe(
      '301d' + '0603551d25' + '0416' + '3014' + '06082b06010505070301' + '06082b06010505070302',
    );
    expect(extendedKeyUsageOid('ocspSigning')).toBe('1.3.6.1.5.5.7.3.9');
    expect(extendedKeyUsageOid('timeStamping')).toBe('1.3.6.1.5.5.7.3.8');
    expect(extendedKeyUsageOid('emailProtection')).toBe('1.3.6.1.5.5.7.3.4');
    expect(extendedKeyUsageOid('codeSigning')).toBe('1.3.6.1.5.5.7.3.3');
    expect(extendedKeyUsageOid('1.3.6.1.4.1.311.20.2.2')).toBe('1.3.6.1.4.1.311.20.2.2');
    for (const bad of ['serverauth', '1', '1.2.', '3.1', '1.02', '']) {
      expect(() => extendedKeyUsageOid(bad)).toThrow();
      try {
        extendedKeyUsageOid(bad);
      } catch (error) {
        expect(isPkiError(error)).toBe(true);
      }
    }
  });

  it('subject and authority key identifiers', () => {
    const id = Buffer.alloc(20, 0x11);
    expect(hex(subjectKeyIdentifier(id))).toBe('301d' + '0603551d0e' + '0416' + '0414' + hex(id));
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
    expect(hex(authorityKeyIdentifier(id))).toBe('301f' + '0603551d23' + '0418' + '3016' + '8014' + hex(id));
  });

  it('computes the key identifier as openssl does (RFC 5280 4.2.1.2 method 1)', () => {
    const { openssl, path } = scratch('ski');
    for (const key of [['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-newkey', 'rsa:2048'], ['-newkey', 'ed25519']]) {
      expect(openssl('req', '-x509', ...key, '-nodes', '-keyout', '/dev/null', '-subj', '/CN=ski', '-outform', 'DER', '-out', 'ski.der').ok).toBe(true);
      const cert = parseCertificate(readFileSync(path('ski.der')));
      expect(cert.subjectKeyIdentifier).toEqual(keyIdentifier(cert.spkiDer));
    }
  });

  it('subjectAltName: critical only when the subject is empty', () => {
    const sans = normalizeSubjectAltNames({ dns: ['a.test'] });
    const names = '3008' + '8206' + ascii('a.test');
    expect(hex(subjectAltName(sans, false))).toBe('3011' + '0603551d11' + '040a' + names);
    expect(hex(subjectAltName(sans, true))).toBe('3014' + '0603551d11' + '0101ff' + '040a' + names);
  });

  it('nameConstraints: critical, permitted dNSName subtrees', () => {
    expect(hex(nameConstraints(['example.test']))).toBe(
      '301e' + '0603551d1e' + '0101ff' + '0414' + '3012' + 'a010' + '300e' + '820c' + ascii('example.test'),
    );
  });

  it('cRLDistributionPoints: one DistributionPoint with a fullName URI', () => {
    expect(hex(crlDistributionPoints('http://a/c'))).toBe(
      '301b' + '0603551d1f' + '0414' + '3012' + '3010' + 'a00e' + 'a00c' + '860a' + ascii('http://a/c'),
    );
  });

  it('authorityInfoAccess: OCSP then caIssuers', () => {
    expect(hex(authorityInfoAccess({ ocsp: 'http://o', caIssuers: 'http://i' }))).toBe(
      '303a' + '06082b06010505070101' + '042e' + '302c' +
        '3014' + '06082b06010505073001' + '8608' + ascii('http://o') +
        '3014' + '06082b06010505073002' + '8608' + ascii('http://i'),
    );
    expect(hex(authorityInfoAccess({ ocsp: 'http://o' }))).toBe('3024' + '06082b06010505070101' + '0418' + '3016' + '3014' + '06082b06010505073001' + '8608' + ascii('http://o'));
  });

  it('cRLNumber and reasonCode', () => {
    expect(hex(crlNumber(7))).toBe('300a' + '0603551d14' + '0403' + '020107');
    expect(hex(crlNumber(2n ** 64n))).toBe('3012' + '0603551d14' + '040b' + '0209' + '010000000000000000');
    expect(hex(reasonCode(1))).toBe('300a' + '0603551d15' + '0403' + '0a0101');
  });
});
