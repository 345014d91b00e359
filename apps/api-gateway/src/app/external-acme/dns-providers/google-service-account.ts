/**
 * A Google service account's access token by the OAuth 2.0 JWT bearer grant (RFC 7523; Google's
 * "Using OAuth 2.0 for server to server applications"): a JWT `{iss: client_email, scope, aud: <token
 * URL>, iat, exp: iat + 3600}` signed RS256 with the key file's `private_key` (node:crypto), POSTed as
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`; the answer's `access_token`
 * is kept until a minute before `expires_in` runs out.
 */
import { createPrivateKey, createSign, KeyObject } from 'node:crypto';
import { ApiCall, asString, field, parseJson } from './http-api';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_DNS_SCOPE = 'https://www.googleapis.com/auth/ndev.clouddns.readwrite';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_S = 3600;
const EARLY_REFRESH_MS = 60_000;

export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: KeyObject;
  /** As the file has it: cut out of errors along with the file. */
  privateKeyPem: string;
  privateKeyId?: string;
  tokenUri?: string;
}

/** The parts of a JSON key file that the grant uses; throws with a message naming what is wrong (never the key). */
export function readServiceAccountKey(json: string): ServiceAccountKey {
  const parsed = parseJson(json);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('is not a JSON object (a service account key file)');
  const clientEmail = asString(field(parsed, 'client_email'));
  if (!clientEmail || !clientEmail.includes('@')) throw new Error('has no client_email');
  const pem = asString(field(parsed, 'private_key'));
  if (!pem) throw new Error('has no private_key');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new Error('has a private_key that is not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('has a private_key that is not an RSA key');
  const tokenUri = asString(field(parsed, 'token_uri'));
  return { clientEmail, privateKey, privateKeyPem: pem, privateKeyId: asString(field(parsed, 'private_key_id')), tokenUri };
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function signedAssertion(key: ServiceAccountKey, tokenUrl: string, scope: string, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(key.privateKeyId ? { kid: key.privateKeyId } : {}) };
  const claims = { iss: key.clientEmail, scope, aud: tokenUrl, iat, exp: iat + ASSERTION_LIFETIME_S };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key.privateKey);
  return `${input}.${base64url(signature)}`;
}

/** Access tokens for one service account, obtained when needed and kept until shortly before they expire. */
export class ServiceAccountTokens {
  private token: { value: string; expiresAt: number } | null = null;

  constructor(
    private readonly key: ServiceAccountKey,
    private readonly tokenUrl: string,
    private readonly scope: string,
  ) {}

  async accessToken(call: ApiCall): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) {
      call.keepSecret(this.token.value);
      return this.token.value;
    }
    const assertion = signedAssertion(this.key, this.tokenUrl, this.scope);
    call.keepSecret(assertion);
    const url = new URL(this.tokenUrl);
    const res = await call.request('POST', url, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
    });
    const body = parseJson(res.text);
    const value = asString(field(body, 'access_token'));
    if (res.status !== 200 || !value) {
      const error = asString(field(body, 'error'));
      const description = asString(field(body, 'error_description'));
      throw call.refused(`POST ${url.pathname} (token)`, res.status, error ? `${error}${description ? `: ${description}` : ''}` : res.text);
    }
    call.keepSecret(value);
    const expiresIn = Number(field(body, 'expires_in')) || ASSERTION_LIFETIME_S;
    this.token = { value, expiresAt: Date.now() + expiresIn * 1000 - EARLY_REFRESH_MS };
    return value;
  }
}
