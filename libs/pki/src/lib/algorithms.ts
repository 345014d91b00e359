/**
 * Key algorithms Signet supports and the signature algorithm each one signs with.
 *
 * One table answers both "what is this KeyObject" and "how does it sign", so the certificate, CRL
 * and OCSP builders never branch on key types themselves.
 */
import { KeyObject } from 'node:crypto';
import { nullValue, oid, sequence } from './der';
import { PkiError } from './errors';

export const KEY_ALGORITHMS = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export const isKeyAlgorithm = (value: unknown): value is KeyAlgorithm =>
  typeof value === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(value);

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  ed25519: '1.3.101.112',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  mgf1: '1.2.840.113549.1.1.8',
} as const;

export type Digest = 'sha256' | 'sha384' | 'sha512';

/** How a key of one algorithm signs X.509 structures. */
export interface SignatureScheme {
  /** DER of the AlgorithmIdentifier placed in tbs.signature and in the outer signatureAlgorithm. */
  readonly algorithmIdentifier: Buffer;
  /** Digest passed to crypto.sign; null for Ed25519, which hashes internally. */
  readonly digest: Digest | null;
  readonly name: string;
}

const RSA_SHA256: SignatureScheme = {
  // RFC 4055: the parameters of sha256WithRSAEncryption are an explicit NULL.
  algorithmIdentifier: sequence(oid(OID.sha256WithRSAEncryption), nullValue()),
  digest: 'sha256',
  name: 'sha256WithRSAEncryption',
};

/** Signature algorithm per key algorithm: ecdsa-with-SHA256/384 match the curve size (RFC 5480 4). */
export const SIGNATURE_SCHEMES: Record<KeyAlgorithm, SignatureScheme> = {
  'ECDSA-P256': { algorithmIdentifier: sequence(oid(OID.ecdsaWithSHA256)), digest: 'sha256', name: 'ecdsa-with-SHA256' },
  'ECDSA-P384': { algorithmIdentifier: sequence(oid(OID.ecdsaWithSHA384)), digest: 'sha384', name: 'ecdsa-with-SHA384' },
  'RSA-2048': RSA_SHA256,
  'RSA-3072': RSA_SHA256,
  'RSA-4096': RSA_SHA256,
  Ed25519: { algorithmIdentifier: sequence(oid(OID.ed25519)), digest: null, name: 'Ed25519' },
};

/**
 * The Signet key algorithm of a public or private KeyObject. RSA sizes other than 2048/3072/4096
 * and curves other than P-256/P-384 are refused here, which is where policy says they are refused.
 */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  // asymmetricKeyDetails builds a fresh object on every read; a CA key is asked once per signature.
  const known = KNOWN_ALGORITHMS.get(key);
  if (known) return known;
  const algorithm = classify(key);
  KNOWN_ALGORITHMS.set(key, algorithm);
  return algorithm;
}

const KNOWN_ALGORITHMS = new WeakMap<KeyObject, KeyAlgorithm>();

function classify(key: KeyObject): KeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1') return 'ECDSA-P256';
      if (details.namedCurve === 'secp384r1') return 'ECDSA-P384';
      throw new PkiError('unsupported_key', `elliptic curve ${details.namedCurve ?? 'unknown'} is not offered: use P-256 or P-384`);
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      checkRsaExponent(details.publicExponent);
      if (bits === 2048 || bits === 3072 || bits === 4096) return `RSA-${bits}` as KeyAlgorithm;
      if (bits < 2048) throw new PkiError('weak_key', `RSA key of ${bits} bits is too weak: at least 2048 bits are required`);
      throw new PkiError('unsupported_key', `RSA key size ${bits} is not offered: use 2048, 3072 or 4096 bits`);
    }
    case 'ed25519':
      return 'Ed25519';
    default:
      throw new PkiError('unsupported_key', `${key.asymmetricKeyType ?? 'unknown'} keys are not offered: use ECDSA (P-256, P-384), RSA or Ed25519`);
  }
}

/** RSA public exponents below 65537 (3, 17, ...) and even ones are refused, as CA/B Forum BR 6.1.6 and NIST SP 800-89 ask. */
export const MIN_RSA_PUBLIC_EXPONENT = 65537n;

function checkRsaExponent(exponent: bigint | undefined): void {
  if (exponent === undefined) throw new PkiError('invalid_encoding', 'the RSA key has no readable public exponent');
  if (exponent < MIN_RSA_PUBLIC_EXPONENT || exponent % 2n === 0n) {
    throw new PkiError('weak_key', `RSA public exponent ${exponent} is too weak: it must be odd and at least ${MIN_RSA_PUBLIC_EXPONENT}`);
  }
}

export const signatureSchemeFor = (key: KeyObject): SignatureScheme => SIGNATURE_SCHEMES[keyAlgorithmOf(key)];
