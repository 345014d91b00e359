/**
 * CA and stored leaf private keys at rest.
 *
 * Blob layout (all lengths fixed by the version byte, so nothing in it is attacker-sized):
 *   v1: 0x01 | flags (bit0: passphrase layer) | [salt 16 | log2N 1 | r 1 | p 1]
 *       | iv 12 | tag 16 | AES-256-GCM(PKCS#8 DER)
 * The GCM key is the master key, or with a passphrase HKDF(master key || scrypt(passphrase, salt)), so
 * neither the master key alone nor the passphrase alone opens the blob. The header is authenticated
 * (GCM additional data), so flipping the passphrase flag or the scrypt cost is detected too.
 */
import { KeyObject, createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { PkiError } from './errors';

const VERSION = 1;
const FLAG_PASSPHRASE = 1;
const SCRYPT = { log2N: 15, r: 8, p: 1 };

function scryptAsync(passphrase: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFC'), salt, 32, { N: 2 ** log2N, r, p, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

function checkMasterKey(masterKey: Buffer): void {
  if (!Buffer.isBuffer(masterKey) || masterKey.length !== 32) throw new PkiError('decryption_failed', 'the master key must be 32 bytes');
}

async function wrappingKey(masterKey: Buffer, passphrase: string | undefined, header: Buffer): Promise<Buffer> {
  if (!(header[1] & FLAG_PASSPHRASE)) return masterKey;
  if (!passphrase) throw new PkiError('passphrase_required', 'this key is protected by a passphrase');
  const derived = await scryptAsync(passphrase, header.subarray(2, 18), header[18], header[19], header[20]);
  return Buffer.from(hkdfSync('sha256', Buffer.concat([masterKey, derived]), header.subarray(2, 18), 'signet key wrap v1', 32));
}

export async function encryptPrivateKey(key: KeyObject, masterKey: Buffer, passphrase?: string): Promise<Buffer> {
  checkMasterKey(masterKey);
  const header = passphrase
    ? Buffer.concat([Buffer.from([VERSION, FLAG_PASSPHRASE]), randomBytes(16), Buffer.from([SCRYPT.log2N, SCRYPT.r, SCRYPT.p])])
    : Buffer.from([VERSION, 0]);
  const aesKey = await wrappingKey(masterKey, passphrase, header);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(key.export({ type: 'pkcs8', format: 'der' }) as Buffer), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

const headerLength = (blob: Buffer) => (blob[1] & FLAG_PASSPHRASE ? 21 : 2);

export function blobNeedsPassphrase(blob: Buffer): boolean {
  return blob.length > 2 && blob[0] === VERSION && (blob[1] & FLAG_PASSPHRASE) !== 0;
}

export async function decryptPrivateKey(blob: Buffer, masterKey: Buffer, passphrase?: string): Promise<KeyObject> {
  checkMasterKey(masterKey);
  const fail = () => new PkiError('decryption_failed', 'the key could not be decrypted: wrong master key or passphrase, or the stored key is damaged');
  if (!Buffer.isBuffer(blob) || blob.length < 2 || blob[0] !== VERSION || (blob[1] & ~FLAG_PASSPHRASE) !== 0) throw fail();
  const at = headerLength(blob);
  if (blob.length < at + 12 + 16 + 1) throw fail();
  const header = blob.subarray(0, at);
  if (blob[1] & FLAG_PASSPHRASE && (header[18] < 10 || header[18] > 20 || header[19] !== 8 || header[20] !== 1)) throw fail();
  const aesKey = await wrappingKey(masterKey, passphrase, header);
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, blob.subarray(at, at + 12));
    decipher.setAAD(header);
    decipher.setAuthTag(blob.subarray(at + 12, at + 28));
    const der = Buffer.concat([decipher.update(blob.subarray(at + 28)), decipher.final()]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw fail();
  }
}
