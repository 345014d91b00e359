/**
 * Key pairs with node:crypto: generation (async, on the thread pool, so a 4096-bit RSA key never
 * blocks the event loop), import from the usual encodings, and the fast public-key import the CSR
 * hot path uses.
 */
import { KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPair as generate } from 'node:crypto';
import { KeyAlgorithm, OID, keyAlgorithmOf } from './algorithms';
import { Tag, children, content, expectTag, readBitStringBytes, readDer, readOid } from './der';
import { PkiError } from './errors';
import { pemBlocks } from './pem';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

type Spec = ['ec', { namedCurve: string }] | ['rsa', { modulusLength: number }] | ['ed25519', Record<string, never>];

const SPECS: Record<KeyAlgorithm, Spec> = {
  'ECDSA-P256': ['ec', { namedCurve: 'prime256v1' }],
  'ECDSA-P384': ['ec', { namedCurve: 'secp384r1' }],
  'RSA-2048': ['rsa', { modulusLength: 2048 }],
  'RSA-3072': ['rsa', { modulusLength: 3072 }],
  'RSA-4096': ['rsa', { modulusLength: 4096 }],
  Ed25519: ['ed25519', {}],
};

/** A fresh key pair, generated on libuv's thread pool (crypto.generateKeyPair's callback form). */
export function generateKeyPair(algorithm: KeyAlgorithm): Promise<KeyPair> {
  // Callers pass strings that came over the wire; an unknown one is a typed refusal, not a TypeError.
  if (!Object.prototype.hasOwnProperty.call(SPECS, algorithm)) {
    return Promise.reject(new PkiError('unsupported_key', `key algorithm ${String(algorithm)} is not offered: use one of ${Object.keys(SPECS).join(', ')}`));
  }
  const [type, options] = SPECS[algorithm];
  return new Promise((resolve, reject) =>
    generate(type as 'ec', options as { namedCurve: string }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    ),
  );
}

/** PKCS#8 PEM ("PRIVATE KEY"), the one private-key form Signet hands out. */
export const exportPrivateKeyPem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }) as string;

/** SubjectPublicKeyInfo DER of a public key (or of a private key's public half). */
export const spkiDer = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' }) as Buffer;

/**
 * SHA-256 of a key's SubjectPublicKeyInfo as OpenSSL re-encodes it: one key, one hash, however a request
 * spelled it (a compressed EC point, say). What a compromised key is remembered and looked up by.
 */
export const spkiSha256 = (key: KeyObject): Buffer => createHash('sha256').update(spkiDer(key)).digest();

export const exportPublicKeyPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string;

const PRIVATE_LABELS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/** A private key from PEM (PKCS#8, PKCS#1, SEC1) or DER; the algorithm must be one Signet offers. */
export function importPrivateKey(input: string | Buffer): KeyObject {
  let key: KeyObject | undefined;
  try {
    if (typeof input === 'string' || input.includes('-----BEGIN')) {
      const text = input.toString();
      if (text.includes('ENCRYPTED PRIVATE KEY')) throw new PkiError('invalid_encoding', 'encrypted PEM keys are not accepted: send the key unencrypted over TLS and use a passphrase here');
      const [block] = pemBlocks(text).filter((b) => PRIVATE_LABELS[b.label]);
      if (!block) throw new PkiError('invalid_encoding', 'no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block');
      key = createPrivateKey({ key: block.der, format: 'der', type: PRIVATE_LABELS[block.label] });
    } else {
      for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
        try {
          key = createPrivateKey({ key: input, format: 'der', type });
          break;
        } catch {
          /* try the next encoding */
        }
      }
    }
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw new PkiError('invalid_encoding', 'the private key could not be read');
  }
  if (!key) throw new PkiError('invalid_encoding', 'the private key could not be read');
  keyAlgorithmOf(key);
  return key;
}

/** A public key from PEM ("PUBLIC KEY", or a certificate) or SPKI DER; the algorithm must be one Signet offers. */
export function importPublicKey(input: string | Buffer): KeyObject {
  try {
    const key = typeof input === 'string' ? createPublicKey(input) : createPublicKey({ key: input, format: 'der', type: 'spki' });
    keyAlgorithmOf(key);
    return key;
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw new PkiError('invalid_encoding', 'the public key could not be read');
  }
}

/**
 * Whether `privateKey` is the private half of `publicKey` (a KeyObject, or SPKI DER such as a
 * certificate's subjectPublicKeyInfo). Both sides are re-exported by OpenSSL before comparing, so an
 * SPKI that spells the same key differently (a compressed EC point) still matches.
 */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject | Buffer): boolean {
  let other: KeyObject;
  try {
    other = Buffer.isBuffer(publicKey) ? createPublicKey({ key: publicKey, format: 'der', type: 'spki' }) : publicKey;
  } catch {
    throw new PkiError('invalid_encoding', 'the public key could not be read');
  }
  return spkiDer(createPublicKey(privateKey)).equals(spkiDer(other));
}

const JWK_CURVES: Record<string, { crv: string; size: number }> = {
  [OID.prime256v1]: { crv: 'P-256', size: 32 },
  [OID.secp384r1]: { crv: 'P-384', size: 48 },
};

/**
 * SubjectPublicKeyInfo DER to a KeyObject. For P-256/P-384 the point goes in as a JWK, which costs
 * OpenSSL 3 noticeably less than decoding the SPKI (about 130 us against 190 us here); every other
 * key takes the ordinary path. Curves and sizes Signet does not offer are refused with a clear error.
 *
 *   SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
 */
export function publicKeyFromSpki(spki: Buffer): { key: KeyObject; algorithm: KeyAlgorithm } {
  const [algorithm, bits] = children(expectTag(readDer(spki), Tag.SEQUENCE, 'SubjectPublicKeyInfo'));
  const [algOid, params] = children(expectTag(algorithm, Tag.SEQUENCE, 'AlgorithmIdentifier'));
  const type = readOid(algOid);
  if (type === OID.ecPublicKey) {
    const curveOid = params && params.tag === Tag.OID ? readOid(params) : '';
    const curve = JWK_CURVES[curveOid];
    if (!curve) throw new PkiError('unsupported_key', `elliptic curve ${CURVE_NAMES[curveOid] ?? curveOid} is not offered: use P-256 or P-384`);
    const point = readBitStringBytes(bits);
    if (point.length !== 1 + 2 * curve.size || point[0] !== 0x04) return ordinary(spki);
    const x = point.subarray(1, 1 + curve.size).toString('base64url');
    const y = point.subarray(1 + curve.size).toString('base64url');
    try {
      const key = createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' });
      return { key, algorithm: curve.size === 32 ? 'ECDSA-P256' : 'ECDSA-P384' };
    } catch {
      throw new PkiError('invalid_encoding', 'the public key is not a point on its curve');
    }
  }
  if (type === '1.2.840.10040.4.1') throw new PkiError('unsupported_key', 'DSA keys are not offered: use ECDSA, RSA or Ed25519');
  return ordinary(spki);
}

const CURVE_NAMES: Record<string, string> = { '1.3.132.0.35': 'P-521', '1.3.132.0.10': 'secp256k1' };

function ordinary(spki: Buffer): { key: KeyObject; algorithm: KeyAlgorithm } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw new PkiError('invalid_encoding', 'the public key could not be read');
  }
  return { key, algorithm: keyAlgorithmOf(key) };
}

/** The subjectPublicKey bits of an SPKI (what key identifiers and OCSP key hashes are computed over). */
export function subjectPublicKeyBits(spki: Buffer): Buffer {
  const [, bits] = children(readDer(spki));
  return content(bits).subarray(1);
}
