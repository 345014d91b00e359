/**
 * A one-way sealed box for private keys crossing Redis: X25519 with an ephemeral sender key, HKDF-SHA256,
 * AES-256-GCM. The producer keeps its ephemeral private key in memory for the one request; Redis (job
 * data, results, event streams) only ever holds ciphertext.
 */
import { KeyObject, createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';

const INFO = 'signet sealed key v1';

function derive(secret: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, INFO, 32));
}

export function newRecipient(): { privateKey: KeyObject; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKeyBase64: (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64') };
}

export function seal(plaintext: string, recipientPublicKeyBase64: string): string {
  const recipient = createPublicKey({ key: Buffer.from(recipientPublicKeyBase64, 'base64'), format: 'der', type: 'spki' });
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = ephemeral.publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
  const key = derive(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient }), ephemeralPublic);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([ephemeralPublic.length]), ephemeralPublic, iv, cipher.getAuthTag(), body]).toString('base64');
}

export function open(sealed: string, recipientPrivateKey: KeyObject): string {
  const bytes = Buffer.from(sealed, 'base64');
  const n = bytes[0];
  const ephemeralPublic = bytes.subarray(1, 1 + n);
  const iv = bytes.subarray(1 + n, 13 + n);
  const tag = bytes.subarray(13 + n, 29 + n);
  const publicKey = createPublicKey({ key: ephemeralPublic, format: 'der', type: 'spki' });
  const key = derive(diffieHellman({ privateKey: recipientPrivateKey, publicKey }), ephemeralPublic);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(bytes.subarray(29 + n)), decipher.final()]).toString('utf8');
}
