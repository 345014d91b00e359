/**
 * The JWS of every ACME POST (RFC 8555 6.2-6.4), verified with `jose`: flattened JSON serialization, a
 * protected header naming an allowed algorithm, the request's exact URL and a fresh nonce, and exactly
 * one of `jwk` (newAccount, revokeCert by certificate key) or `kid` (an account URL of this directory).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AcmeAccountRow, acmeAccountById } from '@signet/persistence';
import { JWK, KeyLike, base64url, calculateJwkThumbprint, flattenedVerify, importJWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AcmeProblem } from './acme-problem';
import type { AcmeDirectory } from './acme-directory';
import { NonceStore } from './nonces';

export const ACME_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'EdDSA'];
const MIN_RSA_BITS = 2048;

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

/** A verified request: its header, its payload (undefined for POST-as-GET) and who signed it. */
export interface VerifiedJws<P = unknown> {
  header: ProtectedHeader;
  payload: P | undefined;
  /** Set when the request was signed with an account's key (`kid`). */
  account?: AcmeAccountRow;
  /** Set when the request carried its key (`jwk`), public parts only, with its RFC 7638 thumbprint. */
  jwk?: { key: JWK; thumbprint: string };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The body as a flattened JWS, or `malformed`. */
export function flattenedJwsOf(body: unknown): FlattenedJws {
  if (!isObject(body)) throw new AcmeProblem('malformed', 'the request body must be a JWS in flattened JSON serialization');
  const { protected: protectedPart, payload, signature } = body;
  if (typeof protectedPart !== 'string' || typeof payload !== 'string' || typeof signature !== 'string') {
    throw new AcmeProblem('malformed', 'the JWS needs string "protected", "payload" and "signature" members');
  }
  if ('header' in body) throw new AcmeProblem('malformed', 'the JWS must not carry an unprotected header');
  for (const [name, part] of [['protected', protectedPart], ['payload', payload], ['signature', signature]] as const) {
    if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new AcmeProblem('malformed', `the JWS "${name}" member is not base64url`);
  }
  return { protected: protectedPart, payload, signature };
}

function decodeJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', `the JWS ${what} is not base64url-encoded JSON`);
  }
}

/** The protected header, checked for shape (not yet for nonce, URL or key). */
export function protectedHeaderOf(jws: FlattenedJws): ProtectedHeader {
  const header = decodeJson(jws.protected, 'protected header');
  if (!isObject(header)) throw new AcmeProblem('malformed', 'the JWS protected header must be a JSON object');
  if (typeof header.alg !== 'string' || !ACME_ALGORITHMS.includes(header.alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `the JWS algorithm must be one of ${ACME_ALGORITHMS.join(', ')}`, { algorithms: ACME_ALGORITHMS });
  }
  if (typeof header.url !== 'string') throw new AcmeProblem('malformed', 'the JWS protected header needs "url"');
  if (header.nonce !== undefined && typeof header.nonce !== 'string') throw new AcmeProblem('badNonce', 'the JWS nonce must be a string');
  if ((header.jwk === undefined) === (header.kid === undefined)) throw new AcmeProblem('malformed', 'the JWS protected header needs exactly one of "jwk" and "kid"');
  if (header.jwk !== undefined && !isObject(header.jwk)) throw new AcmeProblem('malformed', 'the JWS "jwk" must be a JSON Web Key object');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new AcmeProblem('malformed', 'the JWS "kid" must be an account URL');
  return header as unknown as ProtectedHeader;
}

/** A client's public key as a key object, or `badPublicKey`; private members are refused outright. */
export async function publicKeyOf(jwk: JWK, alg: string): Promise<KeyLike> {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new AcmeProblem('badPublicKey', 'the JWK must be a public key (it carries private or symmetric key material)');
  let key: KeyLike;
  try {
    key = (await importJWK(jwk, alg)) as KeyLike;
  } catch (error) {
    throw new AcmeProblem('badPublicKey', `the JWK cannot be used with ${alg}: ${(error as Error).message}`.slice(0, 300));
  }
  if (jwk.kty === 'RSA') {
    const bits = createPublicKey({ key: jwk as never, format: 'jwk' }).asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new AcmeProblem('badPublicKey', `RSA account keys need at least ${MIN_RSA_BITS} bits`);
  }
  return key;
}

/** The public members of a JWK (RFC 7638's required members), what an account stores. */
export function publicJwk(jwk: JWK): JWK {
  switch (jwk.kty) {
    case 'EC':
      return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'OKP':
      return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    case 'RSA':
      return { kty: 'RSA', n: jwk.n, e: jwk.e };
    default:
      throw new AcmeProblem('badPublicKey', 'account keys are EC, OKP (Ed25519) or RSA');
  }
}

export async function verifySignature<P>(jws: FlattenedJws, key: KeyLike, alg: string): Promise<P | undefined> {
  try {
    await flattenedVerify(jws, key, { algorithms: [alg] });
  } catch {
    throw new AcmeProblem('unauthorized', 'the JWS signature does not verify with the key it names');
  }
  if (jws.payload === '') return undefined;
  return decodeJson(jws.payload, 'payload') as P;
}

@Injectable()
export class AcmeJwsVerifier {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly nonces: NonceStore,
  ) {}

  /**
   * Verify a POST to `url` of `directory`. `keyFrom` says which key the resource takes: `jwk` (newAccount),
   * `kid` (everything an account does), or `either` (revokeCert).
   */
  async verify<P = unknown>(body: unknown, url: string, directory: AcmeDirectory, keyFrom: 'jwk' | 'kid' | 'either'): Promise<VerifiedJws<P>> {
    const jws = flattenedJwsOf(body);
    const header = protectedHeaderOf(jws);
    if (!(await this.nonces.consume(header.nonce))) throw new AcmeProblem('badNonce', 'the nonce is unknown, used or expired: retry with the fresh one in Replay-Nonce');
    if (header.url !== url) throw new AcmeProblem('unauthorized', `the JWS "url" (${header.url.slice(0, 200)}) is not this request's URL (${url})`);
    if (header.jwk) {
      if (keyFrom === 'kid') throw new AcmeProblem('malformed', 'this resource is signed with an account key: use "kid", the account URL');
      const key = publicJwk(header.jwk);
      const payload = await verifySignature<P>(jws, await publicKeyOf(header.jwk, header.alg), header.alg);
      return { header, payload, jwk: { key, thumbprint: await calculateJwkThumbprint(key, 'sha256') } };
    }
    if (keyFrom === 'jwk') throw new AcmeProblem('malformed', 'newAccount is signed with the new key itself: use "jwk", not "kid"');
    const accountId = directory.accountIdOf(header.kid!);
    const account = accountId ? await acmeAccountById(this.dataSource.manager, accountId) : null;
    if (!account || account.profileId !== directory.profile.id) throw new AcmeProblem('accountDoesNotExist', 'no account of this directory has that URL');
    const payload = await verifySignature<P>(jws, await publicKeyOf(account.jwk as unknown as JWK, header.alg), header.alg);
    if (account.status !== 'valid') throw new AcmeProblem('unauthorized', `the account is ${account.status}`);
    return { header, payload, account };
  }
}

/** RFC 7638 thumbprint of a stored account key, base64url: the key authorization's second half. */
export const thumbprintOf = (jwk: JWK): Promise<string> => calculateJwkThumbprint(publicJwk(jwk), 'sha256');

export { base64url };
