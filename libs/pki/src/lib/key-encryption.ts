/**
 * CA and stored leaf private keys at rest.
 *
 * Blob layout (all lengths fixed by the version byte and flags, so nothing in it is attacker-sized):
 *   v1: 0x01 | flags (bit0: passphrase layer) | [salt 16 | log2N 1 | r 1 | p 1]
 *       | iv 12 | tag 16 | AES-256-GCM(PKCS#8 DER)
 * The GCM key is the master key, or with a passphrase HKDF-SHA256(master key || scrypt(passphrase, salt)),
 * so neither the master key alone nor the passphrase alone opens the blob. The header is authenticated
 * (GCM additional data), so flipping the passphrase flag or the scrypt cost is detected too.
 *
 * The blob is a Buffer (bytea) or its base64 text (a text column, a JSON field); both read back alike.
 * Every failure is a PkiError: 'passphrase_required' when the blob has a passphrase layer and none was
 * given, 'decryption_failed' for a wrong master key, a wrong passphrase or any altered byte — GCM cannot
 * tell those apart, and saying which would help an attacker more than an operator.
 */
import { KeyObject, createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { PkiError } from './errors';

const VERSION = 1;
const FLAG_PASSPHRASE = 1;
const SALT_LENGTH = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
/** scrypt cost for new blobs: N = 2^15, r = 8 (32 MiB, ~50-100 ms on the thread pool). */
const SCRYPT = { log2N: 15, r: 8, p: 1 };
/** Costs a stored blob may name. Bounded so a forged header cannot ask for gigabytes or minutes. */
const LOG2N_MIN = 10;
const LOG2N_MAX = 17;
const MAXMEM = 256 * 1024 * 1024;

const failed = () =>
  new PkiError('decryption_failed', 'the key could not be decrypted: wrong master key or passphrase, or the stored key is damaged');

/** crypto.scrypt's callback form: the derivation runs on libuv's thread pool, not the event loop. */
function scryptAsync(passphrase: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // NFC so the same passphrase typed on two systems (composed or decomposed accents) derives one key.
    scrypt(passphrase.normalize('NFC'), salt, 32, { N: 2 ** log2N, r, p, maxmem: MAXMEM }, (err, key) =>
      err ? reject(failed()) : resolve(key),
    ),
  );
}

function checkMasterKey(masterKey: Buffer): void {
  if (!Buffer.isBuffer(masterKey) || masterKey.length !== 32) throw new PkiError('decryption_failed', 'the master key must be 32 bytes');
}

async function wrappingKey(masterKey: Buffer, passphrase: string | undefined, header: Buffer): Promise<Buffer> {
  if (!(header[1] & FLAG_PASSPHRASE)) return masterKey;
  if (!passphrase) throw new PkiError('passphrase_required', 'this key is protected by a passphrase');
  const salt = header.subarray(2, 2 + SALT_LENGTH);
  const derived = await scryptAsync(passphrase, salt, header[18], header[19], header[20]);
  return Buffer.from(hkdfSync('sha256', Buffer.concat([masterKey, derived]), salt, 'signet key wrap v1', 32));
}

function pkcs8Of(key: KeyObject | Buffer): Buffer {
  if (Buffer.isBuffer(key)) {
    // Parse it once so a blob can never hold bytes that decrypt to something unusable.
    try {
      createPrivateKey({ key, format: 'der', type: 'pkcs8' });
    } catch {
      throw new PkiError('invalid_encoding', 'the key to encrypt is not PKCS#8 DER');
    }
    return key;
  }
  if (!(key instanceof KeyObject) || key.type !== 'private') throw new PkiError('invalid_encoding', 'only a private key can be encrypted');
  return key.export({ type: 'pkcs8', format: 'der' }) as Buffer;
}

/**
 * Encrypt a private key (KeyObject or PKCS#8 DER) under the 32-byte master key and, when given, a
 * passphrase. An empty passphrase is refused rather than read as "none": a caller that meant to
 * protect the key must not silently get an unprotected blob.
 */
export async function encryptPrivateKey(key: KeyObject | Buffer, masterKey: Buffer, passphrase?: string): Promise<Buffer> {
  checkMasterKey(masterKey);
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase.length === 0)) {
    throw new PkiError('invalid_request', 'the passphrase must be a non-empty string (or omitted)');
  }
  const plaintext = pkcs8Of(key);
  const header = passphrase
    ? Buffer.concat([Buffer.from([VERSION, FLAG_PASSPHRASE]), randomBytes(SALT_LENGTH), Buffer.from([SCRYPT.log2N, SCRYPT.r, SCRYPT.p])])
    : Buffer.from([VERSION, 0]);
  const aesKey = await wrappingKey(masterKey, passphrase, header);
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

/** A blob as bytes: a Buffer as is, a string as strict base64. Anything else is a damaged blob. */
function blobBytes(blob: Buffer | string): Buffer {
  if (Buffer.isBuffer(blob)) return blob;
  if (typeof blob === 'string') {
    const compact = blob.replace(/\s+/g, '');
    if (compact.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return Buffer.from(compact, 'base64');
  }
  throw failed();
}

const headerLength = (blob: Buffer) => (blob[1] & FLAG_PASSPHRASE ? 2 + SALT_LENGTH + 3 : 2);

/** Whether decrypting `blob` needs a passphrase (so a caller can ask for one before trying). */
export function blobNeedsPassphrase(blob: Buffer | string): boolean {
  let bytes: Buffer;
  try {
    bytes = blobBytes(blob);
  } catch {
    return false;
  }
  return bytes.length > 2 && bytes[0] === VERSION && (bytes[1] & FLAG_PASSPHRASE) !== 0;
}

/**
 * The private key in `blob`. A passphrase given for a blob without a passphrase layer is ignored (the
 * master key alone protects it), so callers may pass whatever the user supplied.
 */
export async function decryptPrivateKey(blob: Buffer | string, masterKey: Buffer, passphrase?: string): Promise<KeyObject> {
  checkMasterKey(masterKey);
  const bytes = blobBytes(blob);
  if (bytes.length < 2 || bytes[0] !== VERSION || (bytes[1] & ~FLAG_PASSPHRASE) !== 0) throw failed();
  const at = headerLength(bytes);
  if (bytes.length < at + IV_LENGTH + TAG_LENGTH + 1) throw failed();
  const header = bytes.subarray(0, at);
  if (bytes[1] & FLAG_PASSPHRASE && (header[18] < LOG2N_MIN || header[18] > LOG2N_MAX || header[19] !== 8 || header[20] !== 1)) throw failed();
  const aesKey = await wrappingKey(masterKey, passphrase, header);
  let der: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, bytes.subarray(at, at + IV_LENGTH));
    decipher.setAAD(header);
    decipher.setAuthTag(bytes.subarray(at + IV_LENGTH, at + IV_LENGTH + TAG_LENGTH));
    der = Buffer.concat([decipher.update(bytes.subarray(at + IV_LENGTH + TAG_LENGTH)), decipher.final()]);
  } catch {
    throw failed();
  }
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    // Authenticated but unreadable: only possible if what was encrypted was not a key. Still typed.
    throw failed();
  } finally {
    der.fill(0);
  }
}
