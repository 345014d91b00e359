/** Webhook signing secrets: made here, shown once, kept encrypted by the gateway's secret box (gateway-secrets.ts). */
import { createHmac, randomBytes } from 'node:crypto';

/** A new signing secret: `whsec_` and 32 random bytes, base64url. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

/**
 * The `Signet-Signature` header of a body sent at unix time `t`: `t=<t>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`, keyed with the secret string as shown at creation (its UTF-8 bytes).
 */
export function signatureHeader(secret: string, body: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}
