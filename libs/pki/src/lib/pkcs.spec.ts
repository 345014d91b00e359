/**
 * PKCS#7 certs-only (EST) and PKCS#12 bundles, judged by openssl for every key type Signet issues.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildCertificateSync, issuerOf } from './certificate';
import { normalizeSubjectAltNames } from './general-names';
import { exportLegacyPkcs12, exportPkcs12 } from './pkcs12';
import { readPkcs12 } from './pkcs12-read';
import { certsOnlyPkcs7 } from './pkcs7';
import { DAY, p256, scratch, smallHierarchy } from './testing/openssl-cli';

const { file, openssl, path } = scratch('pkcs');
const h = smallHierarchy();
const issuer = issuerOf(h.intermediate.der, h.intermediateKey);

const leafFor = (keys: { publicKey: import('node:crypto').KeyObject }) =>
  buildCertificateSync({
    kind: 'leaf', subject: { commonName: 'bundle.example.test' }, publicKey: keys.publicKey, issuer,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY), sans: normalizeSubjectAltNames({ dns: ['bundle.example.test'] }),
  });

describe('certsOnlyPkcs7', () => {
  it('is byte for byte what openssl crl2pkcs7 -nocrl writes for the same certificates, in order', () => {
    const leaf = leafFor(p256());
    const ours = certsOnlyPkcs7([leaf.der, h.intermediate.der]);
    const made = openssl('crl2pkcs7', '-nocrl', '-certfile', file('leaf.pem', leaf.pem), '-certfile', file('int.pem', h.intermediate.pem), '-outform', 'DER', '-out', 'ref.p7b');
    expect(made.ok).toBe(true);
    expect(ours.toString('hex')).toBe(readFileSync(path('ref.p7b')).toString('hex'));
    const printed = openssl('pkcs7', '-inform', 'DER', '-in', file('ours.p7b', ours), '-print_certs').out;
    expect(printed.indexOf('subject=CN = bundle.example.test')).toBeLessThan(printed.indexOf('subject=CN = Spec Intermediate'));
  });

  it('with no certificates is still a well-formed SignedData', () => {
    const empty = certsOnlyPkcs7([]);
    expect(empty.toString('hex')).toBe('3025' + '06092a864886f70d010702' + 'a018' + '3016' + '020101' + '3100' + '300b06092a864886f70d010701' + 'a000' + '3100');
    expect(openssl('pkcs7', '-inform', 'DER', '-in', file('empty.p7b', empty), '-print').ok).toBe(true);
  });
});

describe('exportPkcs12', () => {
  const keyTypes: [string, () => ReturnType<typeof p256>][] = [
    ['ECDSA-P256', p256],
    ['ECDSA-P384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' })],
    ['RSA-2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['Ed25519', () => generateKeyPairSync('ed25519')],
  ];

  it.each(keyTypes)('%s: openssl reads key and chain with the password, in the OpenSSL 3 default algorithms', (name, make) => {
    const keys = make();
    const leaf = leafFor(keys);
    const p12 = file(`${name}.p12`, exportPkcs12(keys.privateKey, [leaf.der, h.intermediate.der, h.root.der], 'correct horse battery'));
    const info = openssl('pkcs12', '-info', '-in', p12, '-passin', 'pass:correct horse battery', '-nodes');
    expect(info.ok).toBe(true);
    expect(info.out).toContain('MAC: sha256, Iteration 2048');
    expect(info.out).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
    expect(info.out.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    // The key that comes out is the key that went in, and it is tied to the leaf by localKeyID.
    const keyPem = info.out.slice(info.out.indexOf('-----BEGIN PRIVATE KEY-----'), info.out.indexOf('-----END PRIVATE KEY-----') + 25);
    expect(createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' })).toEqual(keys.privateKey.export({ type: 'pkcs8', format: 'der' }));
    const clcerts = openssl('pkcs12', '-in', p12, '-passin', 'pass:correct horse battery', '-clcerts', '-nokeys').out;
    expect(clcerts).toContain('subject=CN = bundle.example.test');
    expect(clcerts.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(openssl('pkcs12', '-info', '-in', p12, '-passin', 'pass:wrong', '-nodes').out).toMatch(/mac verify error/i);
  });

  it.each(keyTypes)('%s, legacy form: openssl reads the 3DES key and SHA-1 MAC; our reader (node-forge) opens it too', (name, make) => {
    const keys = make();
    const leaf = leafFor(keys);
    const p12 = exportLegacyPkcs12(keys.privateKey, [leaf.der, h.intermediate.der], 'old windows');
    const info = openssl('pkcs12', '-info', '-in', file(`${name}-legacy.p12`, p12), '-passin', 'pass:old windows', '-nodes');
    expect(info.ok).toBe(true);
    expect(info.out).toContain('MAC: sha1, Iteration 2048');
    expect(info.out).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
    const keyPem = info.out.slice(info.out.indexOf('-----BEGIN PRIVATE KEY-----'), info.out.indexOf('-----END PRIVATE KEY-----') + 25);
    expect(createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' })).toEqual(keys.privateKey.export({ type: 'pkcs8', format: 'der' }));
    const read = readPkcs12(p12, 'old windows');
    expect(read.certificates).toEqual([leaf.der, h.intermediate.der]);
    expect(read.privateKey!.export({ type: 'pkcs8', format: 'der' })).toEqual(keys.privateKey.export({ type: 'pkcs8', format: 'der' }));
    expect(openssl('pkcs12', '-info', '-in', file(`${name}-legacy.p12`, p12), '-passin', 'pass:wrong', '-nodes').out).toMatch(/mac verify error/i);
  });

  it('works with a non-ASCII password (BMPString for the MAC, UTF-8 for PBES2, as OpenSSL 3 does)', () => {
    const keys = p256();
    const p12 = file('utf8.p12', exportPkcs12(keys.privateKey, [leafFor(keys).der], 'pässwörd-✓'));
    expect(openssl('pkcs12', '-info', '-in', p12, '-passin', 'pass:pässwörd-✓', '-nodes').ok).toBe(true);
  });
});
