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
