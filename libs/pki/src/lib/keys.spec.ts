import { spawnSync } from 'node:child_process';
import { createPublicKey, sign, verify } from 'node:crypto';
import { KEY_ALGORITHMS, KeyAlgorithm, keyAlgorithmOf } from './algorithms';
import { PkiError } from './errors';
import {
  exportPrivateKeyPem, exportPublicKeyPem, generateKeyPair, importPrivateKey, importPublicKey, keysMatch, publicKeyFromSpki, spkiDer,
  subjectPublicKeyBits,
} from './keys';

/** A key made by the openssl CLI, so the import paths are judged on keys node:crypto did not write. */
function opensslKey(...args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe('generateKeyPair', () => {
  it.each(KEY_ALGORITHMS.map((a) => [a]))('makes a %s pair that signs and verifies', async (algorithm: KeyAlgorithm) => {
    const { privateKey, publicKey } = await generateKeyPair(algorithm);
    expect(keyAlgorithmOf(privateKey)).toBe(algorithm);
    expect(keyAlgorithmOf(publicKey)).toBe(algorithm);
    expect(keysMatch(privateKey, publicKey)).toBe(true);
    const digest = algorithm === 'Ed25519' ? null : 'sha256';
    expect(verify(digest, Buffer.from('x'), publicKey, sign(digest, Buffer.from('x'), privateKey))).toBe(true);
    // PKCS#8 PEM out, read by openssl and by the importer.
    const pem = exportPrivateKeyPem(privateKey);
    expect(pem.startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect(spawnSync('openssl', ['pkey', '-noout'], { input: pem }).status).toBe(0);
    expect(keysMatch(importPrivateKey(pem), publicKey)).toBe(true);
  });

  it('refuses an algorithm Signet does not offer with a typed error', async () => {
    await expect(generateKeyPair('RSA-1024' as KeyAlgorithm)).rejects.toMatchObject({ code: 'unsupported_key' });
  });
});

describe('public keys from SubjectPublicKeyInfo', () => {
  it.each([['ECDSA-P256'], ['ECDSA-P384']] as const)('imports %s through the JWK fast path to the same key', async (algorithm) => {
    const { publicKey } = await generateKeyPair(algorithm);
    const spki = spkiDer(publicKey);
    const fast = publicKeyFromSpki(spki);
    expect(fast.algorithm).toBe(algorithm);
    expect(spkiDer(fast.key)).toEqual(spki);
  });

  it('takes compressed EC points and every other algorithm by the ordinary path', async () => {
    const { publicKey } = await generateKeyPair('ECDSA-P256');
    const r = spawnSync('openssl', ['pkey', '-pubin', '-inform', 'DER', '-outform', 'DER', '-ec_conv_form', 'compressed'], { input: spkiDer(publicKey) });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeLessThan(spkiDer(publicKey).length);
    const imported = publicKeyFromSpki(r.stdout);
    expect(imported.algorithm).toBe('ECDSA-P256');
    // OpenSSL keeps the compressed form on export, so compare the points themselves.
    expect(imported.key.export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
    for (const algorithm of ['RSA-2048', 'Ed25519'] as const) {
      const pair = await generateKeyPair(algorithm);
      expect(publicKeyFromSpki(spkiDer(pair.publicKey)).algorithm).toBe(algorithm);
    }
  });

  it.each([
    ['P-521', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], 'unsupported_key', /P-521/],
    ['secp256k1', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], 'unsupported_key', /secp256k1/],
    ['RSA 1024', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], 'weak_key', /2048/],
    ['RSA 2560', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2560'], 'unsupported_key', /2048, 3072 or 4096/],
    ['Ed448', ['genpkey', '-algorithm', 'ED448'], 'unsupported_key', /ed448/],
  ])('refuses a %s key', (_, args, code, why) => {
    const pem = opensslKey(...args);
    const spki = spkiDer(createPublicKey(pem));
    expect(() => publicKeyFromSpki(spki)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(why) }));
    expect(() => importPublicKey(spki)).toThrow(expect.objectContaining({ code }));
    expect(() => importPrivateKey(pem)).toThrow(expect.objectContaining({ code }));
  });

  it('refuses a point that is not on its curve, and garbage', async () => {
    const spki = spkiDer((await generateKeyPair('ECDSA-P256')).publicKey);
    const offCurve = Buffer.from(spki);
    offCurve[offCurve.length - 1] ^= 0x01;
    expect(() => publicKeyFromSpki(offCurve)).toThrow(expect.objectContaining({ code: 'invalid_encoding' }));
    expect(() => publicKeyFromSpki(Buffer.from('3000', 'hex'))).toThrow();
    expect(() => importPublicKey(Buffer.from('not a key'))).toThrow(PkiError);
  });

  it('gives the subjectPublicKey bits key identifiers hash', async () => {
    const { publicKey } = await generateKeyPair('ECDSA-P256');
    const bits = subjectPublicKeyBits(spkiDer(publicKey));
    expect(bits.length).toBe(65);
    expect(bits[0]).toBe(0x04);
  });
});

describe('import and matching', () => {
  it('reads keys the openssl CLI wrote: PKCS#8, PKCS#1, SEC1 with its parameters block', () => {
    const pkcs8 = opensslKey('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    const sec1WithParams = opensslKey('ecparam', '-name', 'secp384r1', '-genkey');
    expect(sec1WithParams).toMatch(/EC PARAMETERS[\s\S]*EC PRIVATE KEY/);
    const pkcs1 = opensslKey('genrsa', '-traditional', '2048');
    expect(pkcs1).toMatch(/BEGIN RSA PRIVATE KEY/);
    expect(keyAlgorithmOf(importPrivateKey(pkcs8))).toBe('ECDSA-P256');
    expect(keyAlgorithmOf(importPrivateKey(sec1WithParams))).toBe('ECDSA-P384');
    expect(keyAlgorithmOf(importPrivateKey(pkcs1))).toBe('RSA-2048');
    expect(keyAlgorithmOf(importPrivateKey(Buffer.from(pkcs1)))).toBe('RSA-2048');
  });

  it('refuses encrypted PEM keys with a message that says what to do', () => {
    const encrypted = opensslKey('genpkey', '-algorithm', 'ED25519', '-aes-256-cbc', '-pass', 'pass:secret-secret');
    expect(() => importPrivateKey(encrypted)).toThrow(expect.objectContaining({ code: 'invalid_encoding', message: expect.stringMatching(/encrypted/) }));
  });

  it('matches a private key against a public key or SPKI DER, and tells other keys apart', async () => {
    const a = await generateKeyPair('ECDSA-P256');
    const b = await generateKeyPair('ECDSA-P256');
    const c = await generateKeyPair('Ed25519');
    expect(keysMatch(a.privateKey, spkiDer(a.publicKey))).toBe(true);
    expect(keysMatch(a.privateKey, b.publicKey)).toBe(false);
    expect(keysMatch(a.privateKey, spkiDer(c.publicKey))).toBe(false);
    expect(() => keysMatch(a.privateKey, Buffer.from('junk'))).toThrow(PkiError);
    expect(keyAlgorithmOf(importPublicKey(exportPublicKeyPem(a.publicKey)))).toBe('ECDSA-P256');
    expect(keyAlgorithmOf(importPublicKey(spkiDer(c.publicKey)))).toBe('Ed25519');
  });
});
