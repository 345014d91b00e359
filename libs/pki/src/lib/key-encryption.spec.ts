import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { KEY_ALGORITHMS } from './algorithms';
import { PkiError } from './errors';
import { blobNeedsPassphrase, decryptPrivateKey, encryptPrivateKey } from './key-encryption';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKey, keysMatch } from './keys';

const master = randomBytes(32);

describe('private keys at rest', () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== 'RSA-4096').map((a) => [a]))('round-trips a %s key, which openssl then reads', async (algorithm) => {
    const { privateKey, publicKey } = await generateKeyPair(algorithm);
    const blob = await encryptPrivateKey(privateKey, master);
    expect(blobNeedsPassphrase(blob)).toBe(false);
    const back = await decryptPrivateKey(blob, master);
    expect(keysMatch(back, publicKey)).toBe(true);
    const pem = exportPrivateKeyPem(back);
    expect(spawnSync('openssl', ['pkey', '-noout'], { input: pem }).status).toBe(0);
    expect(blob.includes(Buffer.from(pem))).toBe(false);
  });

  it('needs both the master key and the passphrase when one was set', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ECDSA-P256');
    const blob = await encryptPrivateKey(privateKey, master, 'a long passphrase');
    expect(blobNeedsPassphrase(blob)).toBe(true);
    expect(keysMatch(await decryptPrivateKey(blob, master, 'a long passphrase'), publicKey)).toBe(true);
    await expect(decryptPrivateKey(blob, master)).rejects.toMatchObject({ code: 'passphrase_required' });
    await expect(decryptPrivateKey(blob, master, 'wrong passphrase!')).rejects.toMatchObject({ code: 'decryption_failed' });
    await expect(decryptPrivateKey(blob, randomBytes(32), 'a long passphrase')).rejects.toMatchObject({ code: 'decryption_failed' });
  });

  it('refuses a wrong master key and every tampered byte with a typed error', async () => {
    const { privateKey } = await generateKeyPair('Ed25519');
    const blob = await encryptPrivateKey(privateKey, master);
    await expect(decryptPrivateKey(blob, randomBytes(32))).rejects.toMatchObject({ code: 'decryption_failed' });
    for (let i = 0; i < blob.length; i++) {
      const copy = Buffer.from(blob);
      copy[i] ^= 0x80;
      const error = await decryptPrivateKey(copy, master).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(PkiError);
    }
    await expect(decryptPrivateKey(blob.subarray(0, 10), master)).rejects.toBeInstanceOf(PkiError);
  });
});

describe('blob forms and inputs', () => {
  it('takes PKCS#8 DER as well as a KeyObject, and reads its blob back from base64', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ECDSA-P384');
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer;
    const blob = await encryptPrivateKey(pkcs8, master, 'passphrase of mine');
    const text = blob.toString('base64');
    expect(blobNeedsPassphrase(text)).toBe(true);
    expect(keysMatch(await decryptPrivateKey(text, master, 'passphrase of mine'), publicKey)).toBe(true);
    await expect(decryptPrivateKey('not base64 at all!', master)).rejects.toMatchObject({ code: 'decryption_failed' });
    expect(blobNeedsPassphrase('%%%')).toBe(false);
  });

  it('refuses what it cannot protect honestly', async () => {
    const { privateKey, publicKey } = await generateKeyPair('Ed25519');
    await expect(encryptPrivateKey(Buffer.from('not a key'), master)).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(encryptPrivateKey(publicKey, master)).rejects.toMatchObject({ code: 'invalid_encoding' });
    await expect(encryptPrivateKey(privateKey, master, '')).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(encryptPrivateKey(privateKey, randomBytes(16))).rejects.toMatchObject({ code: 'decryption_failed' });
    await expect(decryptPrivateKey(await encryptPrivateKey(privateKey, master), randomBytes(31))).rejects.toBeInstanceOf(PkiError);
  });

  it('ignores a passphrase given for a blob that has no passphrase layer', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ECDSA-P256');
    const blob = await encryptPrivateKey(privateKey, master);
    expect(keysMatch(await decryptPrivateKey(blob, master, 'anything at all'), publicKey)).toBe(true);
  });

  it('detects a tampered header of a passphrase blob: flag, salt and scrypt cost', async () => {
    const { privateKey } = await generateKeyPair('Ed25519');
    const blob = await encryptPrivateKey(privateKey, master, 'correct horse battery');
    // Header bytes (version, flags, salt, log2N, r, p) and the first IV and tag bytes; the ciphertext
    // bytes are covered by the every-byte loop above (same GCM code path, without the scrypt cost).
    for (const i of [0, 1, 2, 9, 17, 18, 19, 20, 21, 33]) {
      const copy = Buffer.from(blob);
      copy[i] ^= i === 18 ? 0x01 : 0x80;
      const error = await decryptPrivateKey(copy, master, 'correct horse battery').then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(PkiError);
    }
    // A forged cost asking for far more memory than any blob we write is refused before scrypt runs.
    const greedy = Buffer.from(blob);
    greedy[18] = 30;
    await expect(decryptPrivateKey(greedy, master, 'correct horse battery')).rejects.toMatchObject({ code: 'decryption_failed' });
  });
});

describe('importPrivateKey', () => {
  it('reads PKCS#8, PKCS#1 and SEC1, in PEM and DER', async () => {
    const rsa = await generateKeyPair('RSA-2048');
    const ec = await generateKeyPair('ECDSA-P384');
    for (const [key, type] of [[rsa.privateKey, 'pkcs1'], [rsa.privateKey, 'pkcs8'], [ec.privateKey, 'sec1'], [ec.privateKey, 'pkcs8']] as const) {
      const pem = key.export({ type, format: 'pem' }) as string;
      const der = key.export({ type, format: 'der' }) as Buffer;
      expect(importPrivateKey(pem).asymmetricKeyType).toBe(key.asymmetricKeyType);
      expect(importPrivateKey(der).asymmetricKeyType).toBe(key.asymmetricKeyType);
    }
  });

  it('refuses garbage, encrypted PEM and weak keys with typed errors', async () => {
    expect(() => importPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).toThrow(PkiError);
    expect(() => importPrivateKey(Buffer.from('not a key'))).toThrow(PkiError);
    const weak = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], { encoding: 'utf8' }).stdout;
    expect(() => importPrivateKey(weak)).toThrow(expect.objectContaining({ code: 'weak_key' }));
  });
});
