/**
 * API key tokens: `sgn_<keyId>_<secret>`.
 *
 * `keyId` (16 hex chars) is public: it finds the row without a scan and shows in listings as the key's
 * prefix. `secret` (43 base62 chars, ~256 bits from the CSPRNG) is never stored: only its SHA-256, which
 * is compared in constant time. base62 keeps `_` unambiguous as the separator and the key URL-safe.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 43;
const TOKEN = /^sgn_([0-9a-f]{16})_([0-9A-Za-z]{43})$/;

export interface ApiKeyToken {
  keyId: string;
  secret: string;
}

export interface NewApiKey extends ApiKeyToken {
  /** The whole key, shown to its owner exactly once. */
  token: string;
  prefix: string;
  secretHash: Buffer;
}

/** Uniform base62 from random bytes by rejection sampling (no modulo bias). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export const hashSecret = (secret: string): Buffer => createHash('sha256').update(secret).digest();

export const displayPrefix = (keyId: string): string => `sgn_${keyId}`;

export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBase62(SECRET_LENGTH);
  return { keyId, secret, token: `sgn_${keyId}_${secret}`, prefix: displayPrefix(keyId), secretHash: hashSecret(secret) };
}

/** The parts of a well-formed token, or null: a malformed key never reaches the database. */
export function parseApiKey(token: string): ApiKeyToken | null {
  const match = TOKEN.exec(token);
  return match ? { keyId: match[1], secret: match[2] } : null;
}

export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return storedHash.length === candidate.length && timingSafeEqual(candidate, storedHash);
}

/** The admin key's digest, kept: the key is fixed for the process, and every request compares against it. */
let adminDigest: { key: string; digest: Buffer } | undefined;

/** Constant-time comparison of the operator's PLATFORM_ADMIN_KEY, via fixed-length digests. */
export function adminKeyMatches(presented: string, adminKey: string): boolean {
  if (adminDigest?.key !== adminKey) adminDigest = { key: adminKey, digest: hashSecret(adminKey) };
  return timingSafeEqual(hashSecret(presented), adminDigest.digest);
}
