/**
 * Certificate bundles from elsewhere: PEM and PKCS#12 (made by openssl, modern AES and -legacy 3DES/RC2),
 * and each judgement of checkBundle at its edge.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Bundle, certificateCovers, checkBundle, readBundle } from './bundle';
import { buildCertificateSync, issuerOf } from './certificate';
import { BundleInputError } from './errors';
import { toPem } from './pem';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';
import { X509Certificate } from 'node:crypto';

const now = new Date();
const h = smallHierarchy();
const leafKeys = p256();
const leaf = buildCertificateSync({
  kind: 'leaf', subject: { commonName: 'www.example.test' }, publicKey: leafKeys.publicKey, issuer: issuerOf(h.intermediate.der, h.intermediateKey),
  notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 90 * DAY),
  sans: { dns: ['www.example.test', '*.apps.example.test'], ip: ['192.0.2.10'], email: [], uri: [] }, extendedKeyUsage: ['serverAuth'],
});
const pem = {
  leaf: toPem('CERTIFICATE', leaf.der),
  intermediate: toPem('CERTIFICATE', h.intermediate.der),
  root: toPem('CERTIFICATE', h.root.der),
  key: leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
};
const codes = (findings: { code: string }[]) => findings.map((f) => f.code).sort();

describe('certificate bundles', () => {
  it('judges a good PEM bundle: key matches, chain in order and complete, domain covered', () => {
    const report = checkBundle(readBundle({ certificatePem: pem.leaf, chainPem: pem.intermediate + pem.root, privateKeyPem: pem.key }), { now, domain: 'x.apps.example.test' });
    expect(report).toEqual(expect.objectContaining({
      valid: true, commonName: 'www.example.test', sanDns: ['www.example.test', '*.apps.example.test'], sanIp: ['192.0.2.10'],
      keyAlgorithm: 'ECDSA-P256', keyMatches: true, chainComplete: true, coversDomain: true, errors: [], warnings: [],
      serialNumber: leaf.serialNumber, issuer: expect.stringContaining('Spec Intermediate'),
    }));
    // The chain may also follow the leaf in certificatePem.
    expect(checkBundle(readBundle({ certificatePem: pem.leaf + pem.intermediate }), { now }).warnings.map((w) => w.code)).toEqual(['chain_incomplete']);
  });

  it('finds a key for another certificate, a chain in the wrong order or broken, an uncovered domain, expiry', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(codes(checkBundle(readBundle({ certificatePem: pem.leaf, privateKeyPem: other }), { now }).errors)).toEqual(['key_mismatch']);
    expect(codes(checkBundle(readBundle({ certificatePem: pem.leaf, chainPem: pem.root + pem.intermediate }), { now }).errors)).toEqual(['chain_order']);
    const stranger = smallHierarchy();
    expect(codes(checkBundle(readBundle({ certificatePem: pem.leaf, chainPem: toPem('CERTIFICATE', stranger.intermediate.der) }), { now }).errors)).toEqual(['chain_broken']);
    const report = checkBundle(readBundle({ certificatePem: pem.leaf }), { now, domain: 'a.b.apps.example.test' });
    expect([report.valid, report.coversDomain, codes(report.errors), codes(report.warnings)]).toEqual([false, false, ['domain_not_covered'], ['chain_missing']]);
    expect(checkBundle(readBundle({ certificatePem: pem.leaf }), { now: new Date(now.getTime() + 100 * DAY) }).errors.map((e) => e.code)).toEqual(['expired']);
    expect(checkBundle(readBundle({ certificatePem: pem.leaf }), { now: new Date(now.getTime() + 70 * DAY) }).warnings.map((e) => e.code)).toContain('expiring');
  });

  it('covers names per RFC 6125: one label for a wildcard, IPs exactly, the CN only without SANs', () => {
    const x = new X509Certificate(leaf.der);
    expect(['www.example.test', 'WWW.Example.Test.', 'a.apps.example.test', '192.0.2.10'].map((d) => certificateCovers(x, d))).toEqual([true, true, true, true]);
    expect(['apps.example.test', 'a.b.apps.example.test', 'example.test', '192.0.2.11'].map((d) => certificateCovers(x, d))).toEqual([false, false, false, false]);
  });

  it('warns of a weak RSA key and reads an RSA-1024 certificate it would never issue', () => {
    const s = scratch('bundle-weak');
    expect(s.openssl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-subj', '/CN=old.example.test', '-days', '100').ok).toBe(true);
    // Judged after openssl made it: its notBefore is the second it was made, later than this file's `now`.
    const report = checkBundle(readBundle({ certificatePem: readFileSync(s.path('c.pem'), 'utf8'), privateKeyPem: readFileSync(s.path('k.pem'), 'utf8') }), { now: new Date() });
    expect([report.valid, report.keyAlgorithm, report.keyMatches, report.chainComplete, codes(report.warnings)]).toEqual([true, 'RSA-1024', true, true, ['weak_key']]);
  });

  it.each([['modern (AES-256, SHA-256 MAC)', []], ['legacy (3DES/RC2, SHA-1 MAC)', ['-legacy']]])('opens a PKCS#12 made by openssl, %s, with EC and RSA keys', (_name, flags) => {
    const s = scratch('bundle-p12');
    s.file('leaf.pem', pem.leaf);
    s.file('key.pem', pem.key);
    s.file('chain.pem', pem.intermediate + pem.root);
    expect(s.openssl('pkcs12', '-export', ...flags, '-in', 'leaf.pem', '-inkey', 'key.pem', '-certfile', 'chain.pem', '-out', 'b.p12', '-passout', 'pass:s3cret').ok).toBe(true);
    const bundle: Bundle = readBundle({ pfx: readFileSync(s.path('b.p12')), pfxPassword: 's3cret' });
    expect(bundle.leaf.serialNumber.toUpperCase()).toBe(leaf.serialNumber);
    expect(bundle.privateKey?.asymmetricKeyType).toBe('ec');
    expect(checkBundle(bundle, { now, domain: 'www.example.test' })).toEqual(expect.objectContaining({ valid: true, keyMatches: true, chainComplete: true }));
    expect(() => readBundle({ pfx: readFileSync(s.path('b.p12')), pfxPassword: 'wrong' })).toThrow(expect.objectContaining({ field: 'pfxPassword' }));

    expect(s.openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rk.pem', '-out', 'rc.pem', '-subj', '/CN=rsa.example.test', '-days', '100').ok).toBe(true);
    expect(s.openssl('pkcs12', '-export', ...flags, '-in', 'rc.pem', '-inkey', 'rk.pem', '-out', 'r.p12', '-passout', 'pass:pw').ok).toBe(true);
    const rsa = readBundle({ pfx: readFileSync(s.path('r.p12')), pfxPassword: 'pw' });
    expect([rsa.privateKey?.asymmetricKeyType, checkBundle(rsa, { now: new Date() }).keyMatches]).toEqual(['rsa', true]);
    // The certificate comes out byte for byte as it went in (its fingerprint is its identity).
    expect(rsa.leaf.fingerprint256).toBe(new X509Certificate(readFileSync(s.path('rc.pem'))).fingerprint256);
  });

  it('names the field it cannot read', () => {
    const field = (input: Parameters<typeof readBundle>[0]) => {
      try {
        readBundle(input);
        return 'read';
      } catch (error) {
        return error instanceof BundleInputError ? error.field : String(error);
      }
    };
    expect(field({ certificatePem: 'garbage' })).toBe('certificatePem');
    expect(field({ certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })).toBe('certificatePem');
    expect(field({ certificatePem: pem.leaf, chainPem: 'nope' })).toBe('chainPem');
    expect(field({ certificatePem: pem.leaf, privateKeyPem: 'not a key' })).toBe('privateKeyPem');
    expect(field({ pfx: Buffer.from('not a pfx') })).toBe('pfx');
    expect(field({})).toBe('certificatePem');
  });
});
