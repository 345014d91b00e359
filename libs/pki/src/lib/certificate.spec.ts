import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  buildCertificate, buildCertificateSync, certificateSignedBy, fingerprintSha256, issuerOf, parseCertificate, randomSerial,
} from './certificate';
import { encodeName } from './distinguished-name';
import { isPkiError } from './errors';
import { keyIdentifier } from './extensions';
import { normalizeSubjectAltNames } from './general-names';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

const { file, openssl, path } = scratch('cert');
const h = smallHierarchy();
const issuer = issuerOf(h.intermediate.der, h.intermediateKey);
const chainArgs = ['-CAfile', file('root.pem', h.root.pem), '-untrusted', file('int.pem', h.intermediate.pem)];

const refused = (code: string, fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return isPkiError(error) ? error.code === code || error.code : `untyped: ${error}`;
  }
  return 'not refused';
};

const leafSpec = (over: Partial<Parameters<typeof buildCertificateSync>[0]> = {}) => ({
  kind: 'leaf' as const, subject: { commonName: 'leaf.example.test' }, publicKey: p256().publicKey, issuer,
  notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: ['leaf.example.test'] }),
  ...over,
});

describe('serial numbers', () => {
  it('are 16 CSPRNG bytes, positive, never zero, and keep their length in the INTEGER', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const serial = randomSerial();
      expect(serial.length).toBe(16);
      expect(serial[0] & 0x80).toBe(0);
      expect(serial[0]).not.toBe(0);
      seen.add(serial.toString('hex'));
    }
    expect(seen.size).toBe(2000);
  });

  it('come back as uppercase hex, as openssl prints them', () => {
    const leaf = buildCertificateSync(leafSpec());
    expect(leaf.serialNumber).toMatch(/^[0-9A-F]{32}$/);
    expect(openssl('x509', '-in', file('serial.pem', leaf.pem), '-noout', '-serial').out.trim().split('\n')[0]).toBe(`serial=${leaf.serialNumber}`);
  });

  it('a caller-given serial is written as given; zero or over 20 bytes are refused', () => {
    const leaf = buildCertificateSync(leafSpec({ serial: Buffer.from('80', 'hex') }));
    expect(leaf.serialNumber).toBe('80');
    expect(parseCertificate(leaf.der).serialNumber).toBe('80');
    expect(refused('invalid_request', () => buildCertificateSync(leafSpec({ serial: Buffer.alloc(4) })))).toBe(true);
    expect(refused('invalid_request', () => buildCertificateSync(leafSpec({ serial: Buffer.alloc(21, 1) })))).toBe(true);
  });
});

describe('buildCertificate', () => {
  it('returns DER, PEM, SHA-256 fingerprint and the validity as encoded (whole seconds)', async () => {
    const notBefore = new Date(Date.UTC(2026, 10, 22, 10, 0, 0, 789));
    const notAfter = new Date(Date.UTC(2051, 0, 1, 0, 0, 0, 5)); // GeneralizedTime from 2050 on
    const leaf = await buildCertificate(leafSpec({ notBefore, notAfter }));
    expect(leaf.notBefore.toISOString()).toBe('2026-11-22T10:00:00.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2051-01-01T00:00:00.000Z');
    expect(leaf.fingerprintSha256).toBe(createHash('sha256').update(leaf.der).digest('hex'));
    const p = file('fp.pem', leaf.pem);
    expect(openssl('x509', '-in', p, '-noout', '-fingerprint', '-sha256').out).toContain(leaf.fingerprintSha256.toUpperCase().match(/../g)!.join(':'));
    const dates = openssl('x509', '-in', p, '-noout', '-dates').out;
    expect(dates).toContain('notBefore=Nov 22 10:00:00 2026 GMT');
    expect(dates).toContain('notAfter=Jan  1 00:00:00 2051 GMT');
    const parsed = parseCertificate(leaf.pem);
    expect([parsed.notBefore, parsed.notAfter]).toEqual([leaf.notBefore, leaf.notAfter]);
  });

  it('signs with the ISSUER key algorithm, whatever the subject key (mixed chain openssl verifies)', () => {
    const rsaRoot = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const mixed = smallHierarchy({ rootKeys: rsaRoot, intermediateKeys: p384 });
    const ed = generateKeyPairSync('ed25519');
    const leaf = buildCertificateSync(leafSpec({ publicKey: ed.publicKey, issuer: issuerOf(mixed.intermediate.der, mixed.intermediateKey) }));
    const text = (pem: string, name: string) => openssl('x509', '-in', file(name, pem), '-noout', '-text').out;
    expect(text(mixed.intermediate.pem, 'm-int.pem')).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text(leaf.pem, 'm-leaf.pem')).toContain('Signature Algorithm: ecdsa-with-SHA384');
    expect(text(leaf.pem, 'm-leaf.pem')).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    const verdict = openssl('verify', '-CAfile', file('m-root.pem', mixed.root.pem), '-untrusted', path('m-int.pem'), path('m-leaf.pem'));
    expect(verdict.out).toContain(': OK');
  });

  it('gives RSA leaves keyEncipherment as well', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const leaf = buildCertificateSync(leafSpec({ publicKey: rsa.publicKey }));
    expect(openssl('x509', '-in', file('rsa-leaf.pem', leaf.pem), '-noout', '-text').out).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(parseCertificate(leaf.der).keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
  });

  it('an empty subject takes a critical SAN, and openssl accepts the leaf', () => {
    const leaf = buildCertificateSync(leafSpec({ subject: encodeName({}) }));
    const p = file('empty-subject.pem', leaf.pem);
    expect(openssl('x509', '-in', p, '-noout', '-text').out).toMatch(/Subject Alternative Name: critical\s+DNS:leaf.example.test/);
    expect(openssl('verify', ...chainArgs, p).out).toContain(': OK');
    expect(refused('invalid_name', () => buildCertificateSync(leafSpec({ subject: encodeName({}), sans: undefined })))).toBe(true);
  });

  it('keeps a Name given as DER byte for byte (CSR mode)', () => {
    const subject = Buffer.from('3011310f300d06035504030c066ec3a46d6521', 'hex'); // CN=UTF8 "näme!"
    const leaf = buildCertificateSync(leafSpec({ subject }));
    expect(parseCertificate(leaf.der).subjectDer).toEqual(subject);
    expect(parseCertificate(leaf.der).subject).toEqual({ commonName: 'näme!' });
  });

  it('refuses specs that would make a bad certificate, with typed errors', () => {
    expect(refused('invalid_request', () => buildCertificateSync(leafSpec({ notAfter: new Date(Date.now() - DAY) })))).toBe(true);
    expect(refused('invalid_request', () => buildCertificateSync(leafSpec({ notBefore: new Date('nope') })))).toBe(true);
    expect(refused('invalid_name', () => buildCertificateSync(leafSpec({ subject: Buffer.from('3003', 'hex') })))).toBe(true);
    expect(refused('invalid_request', () => buildCertificateSync({ ...leafSpec(), issuer: undefined }))).toBe(true);
    const keys = p256();
    const root = { kind: 'root' as const, publicKey: keys.publicKey, selfSignKey: keys.privateKey, notBefore: new Date(), notAfter: new Date(Date.now() + DAY) };
    expect(refused('invalid_name', () => buildCertificateSync({ ...root, subject: {} }))).toBe(true);
    expect(refused('invalid_request', () => buildCertificateSync({ ...root, subject: { commonName: 'r' }, pathLength: -1 }))).toBe(true);
    expect(refused('invalid_name', () => buildCertificateSync({ ...root, subject: { commonName: 'r' }, permittedDnsDomains: ['*.example.test'] }))).toBe(true);
  });
});

describe('parseCertificate', () => {
  it('reads a CA openssl made: serial, names, SKI, constraints (permitted and excluded), key usage', () => {
    const made = openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'imp.key', '-subj', '/O=Imported/CN=Imported CA',
      '-set_serial', '0x00ff01', '-addext', 'subjectKeyIdentifier=0102030405', '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:2',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'extendedKeyUsage=clientAuth,1.2.3.4',
      '-addext', 'nameConstraints=critical,permitted;DNS:example.test,excluded;DNS:bad.example.test',
      '-addext', 'subjectAltName=DNS:ca.example.test,IP:192.0.2.7,email:ca@example.test,URI:https://example.test/ca', '-out', 'imp.pem');
    expect(made.ok).toBe(true);
    const pem = readFileSync(path('imp.pem'), 'utf8');
    const cert = parseCertificate(pem);
    expect(cert.serialNumber).toBe('FF01');
    expect(cert.subject).toEqual({ organization: 'Imported', commonName: 'Imported CA' });
    expect(cert.issuerDer).toEqual(cert.subjectDer);
    expect(cert.subjectKeyIdentifier?.toString('hex')).toBe('0102030405');
    expect(cert.authorityKeyIdentifier).not.toBeNull();
    expect([cert.isCa, cert.pathLength]).toEqual([true, 2]);
    expect(cert.permittedDnsDomains).toEqual(['example.test']);
    expect(cert.excludedDnsDomains).toEqual(['bad.example.test']);
    expect(cert.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(cert.extendedKeyUsage).toEqual(['1.3.6.1.5.5.7.3.2', '1.2.3.4']);
    expect(cert.sans).toEqual({ dns: ['ca.example.test'], ip: ['192.0.2.7'], email: ['ca@example.test'], uri: ['https://example.test/ca'] });
    expect(cert.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(cert.spkiDer).toEqual(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
    expect(cert.fingerprintSha256).toBe(fingerprintSha256(cert.der));
    expect(certificateSignedBy(cert, cert.publicKey)).toBe(true);
    // The issuer record keeps the imported SKI for AKIs and the key hash for OCSP byKey.
    const record = issuerOf(cert, createPrivateKey(readFileSync(path('imp.key'))));
    expect(record.keyIdentifier.toString('hex')).toBe('0102030405');
    expect(record.publicKeyHash).toEqual(keyIdentifier(cert.spkiDer));
  });

  it('takes PEM text, PEM bytes, DER and base64 of DER alike', () => {
    const der = parseCertificate(h.root.pem).der;
    for (const input of [h.root.pem, Buffer.from(h.root.pem), h.root.der, h.root.der.toString('base64')]) {
      expect(parseCertificate(input).der).toEqual(der);
    }
  });

  it('checks the signature against the right key only', () => {
    const leaf = parseCertificate(buildCertificateSync(leafSpec()).der);
    expect(certificateSignedBy(leaf, parseCertificate(h.intermediate.der).publicKey)).toBe(true);
    expect(certificateSignedBy(leaf, parseCertificate(h.root.der).publicKey)).toBe(false);
  });

  it('refuses garbage, truncation, trailing bytes and a CSR with invalid_encoding', () => {
    const der = h.root.der;
    const csr = openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x');
    for (const input of [Buffer.from('hello'), der.subarray(0, der.length - 1), Buffer.concat([der, Buffer.from([0])]), Buffer.from('3000', 'hex'), csr.out, '']) {
      expect(refused('invalid_encoding', () => parseCertificate(input))).toBe(true);
    }
  });
});
