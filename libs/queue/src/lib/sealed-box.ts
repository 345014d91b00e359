/**
 * A one-way sealed box for private keys crossing Redis: X25519 with an ephemeral sender key, HKDF-SHA256,
 * AES-256-GCM. The producer keeps its ephemeral private key in memory for the one request; Redis (job
 * data, results, event streams) only ever holds ciphertext.
 */
import { KeyObject, createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';

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

/** PKCS#8 header of an X25519 private key: the 32 raw bytes follow. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * The signers' transport key: an X25519 pair derived from MASTER_KEY, so every signer replica holds
 * the same one and only signers hold it. Producers seal secrets bound for the signer (an imported CA's
 * private key) to its public half, which the signers publish in Redis (transportKeyRedisKey).
 */
export function transportKeyFrom(masterKey: Buffer): { privateKey: KeyObject; publicKeyBase64: string } {
  const seed = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'signet signer transport key v1', 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKeyBase64: (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64') };
}

/** Where the signers publish the transport key's public half. */
export const transportKeyRedisKey = (queuePrefix: string): string => `${queuePrefix}:signer:transport-key`;
