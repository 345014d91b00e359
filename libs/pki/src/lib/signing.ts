/**
 * Signing of DER structures (TBSCertificate, TBSCertList, ResponseData) with node:crypto.
 *
 * The async form uses crypto.sign's callback, which runs on libuv's thread pool: a busy signer
 * spreads signatures over every core instead of serialising them on the event loop.
 */
import { KeyObject, sign as cryptoSign } from 'node:crypto';
import { SignatureScheme, signatureSchemeFor } from './algorithms';
import { bitString, sequence } from './der';

/** Sign `data` with `key` under `scheme`, on the thread pool. */
export function signAsync(data: Buffer, key: KeyObject, scheme: SignatureScheme = signatureSchemeFor(key)): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    cryptoSign(scheme.digest, data, key, (err, signature) => (err ? reject(err) : resolve(signature))),
  );
}

/** Sign `data` with `key` under `scheme`, synchronously (for small tools and tests). */
export const signSync = (data: Buffer, key: KeyObject, scheme: SignatureScheme = signatureSchemeFor(key)): Buffer =>
  cryptoSign(scheme.digest, data, key);

/**
 * The common X.509 envelope: SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }, as used by
 * Certificate, CertificateList and (in its own order) BasicOCSPResponse.
 */
export async function signAndWrap(tbs: Buffer, key: KeyObject, scheme: SignatureScheme = signatureSchemeFor(key)): Promise<Buffer> {
  const signature = await signAsync(tbs, key, scheme);
  return sequence(tbs, scheme.algorithmIdentifier, bitString(signature));
}
