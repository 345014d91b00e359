/**
 * Webhook signing secrets: made here, shown once, kept encrypted, and used to sign each delivery.
 *
 * The deliverer is the gateway (the signer connects to no outside host), so the secret is encrypted
 * under a key of the gateway's own: AES-256-GCM under HKDF(WEBHOOK_SECRET_KEY), or, when that is unset,
 * under a key derived from PLATFORM_ADMIN_KEY (then changing that key makes the stored secrets
 * unreadable: set WEBHOOK_SECRET_KEY in production). The signers' MASTER_KEY is never involved.
 *
 * Blob: version 1 | key id 4 | iv 12 | tag 16 | ciphertext. The key id (the first bytes of the key's
 * SHA-256) says "encrypted under another key" plainly; the webhook's id is authenticated with the blob
 * (GCM additional data), so a secret copied onto another row does not open.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const KEY_ID_LENGTH = 4;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH;

/** Why a stored secret could not be read; its message names no secret. */
export class WebhookSecretUnreadable extends Error {}

export class WebhookSecretBox {
  private readonly key: Buffer;
  private readonly keyId: Buffer;

  constructor(config: { WEBHOOK_SECRET_KEY?: string; PLATFORM_ADMIN_KEY: string }) {
    const [material, info] = config.WEBHOOK_SECRET_KEY
      ? [Buffer.from(config.WEBHOOK_SECRET_KEY, 'base64'), 'signet webhook secrets v1']
      : [Buffer.from(config.PLATFORM_ADMIN_KEY, 'utf8'), 'signet webhook secrets from PLATFORM_ADMIN_KEY v1'];
    this.key = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), info, 32));
    this.keyId = createHash('sha256').update(this.key).digest().subarray(0, KEY_ID_LENGTH);
  }

  seal(secret: string, webhookId: string): Buffer {
    const header = Buffer.concat([Buffer.from([VERSION]), this.keyId]);
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.concat([header, Buffer.from(webhookId, 'utf8')]));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
  }

  open(blob: Buffer, webhookId: string): string {
    if (blob.length <= HEADER_LENGTH + IV_LENGTH + TAG_LENGTH || blob[0] !== VERSION) throw new WebhookSecretUnreadable('the stored webhook secret is damaged');
    const header = blob.subarray(0, HEADER_LENGTH);
    if (!header.subarray(1).equals(this.keyId)) {
      throw new WebhookSecretUnreadable('the webhook secret was encrypted under another WEBHOOK_SECRET_KEY (or PLATFORM_ADMIN_KEY, when that is unset)');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, blob.subarray(HEADER_LENGTH, HEADER_LENGTH + IV_LENGTH));
      decipher.setAAD(Buffer.concat([header, Buffer.from(webhookId, 'utf8')]));
      decipher.setAuthTag(blob.subarray(HEADER_LENGTH + IV_LENGTH, HEADER_LENGTH + IV_LENGTH + TAG_LENGTH));
      return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH + IV_LENGTH + TAG_LENGTH)), decipher.final()]).toString('utf8');
    } catch {
      throw new WebhookSecretUnreadable('the stored webhook secret is damaged');
    }
  }
}

/** A new signing secret: `whsec_` and 32 random bytes, base64url. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

/**
 * The `Signet-Signature` header of a body sent at unix time `t`: `t=<t>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`, keyed with the secret string as shown at creation (its UTF-8 bytes).
 */
export function signatureHeader(secret: string, body: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}
