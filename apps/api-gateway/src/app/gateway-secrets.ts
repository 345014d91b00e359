/**
 * The gateway's secrets at rest: what the gateway itself must use against outside hosts, so the signers
 * cannot hold it for it (they connect to no outside host): webhook signing secrets, the account keys of
 * outside ACME CAs, and DNS provider credentials. One cipher for all of them: AES-256-GCM under
 * HKDF(WEBHOOK_SECRET_KEY) (the variable keeps the name it was introduced under), or, when that is unset,
 * under a key derived from PLATFORM_ADMIN_KEY (then changing that key makes the stored secrets
 * unreadable: set WEBHOOK_SECRET_KEY in production). The signers' MASTER_KEY is never involved.
 *
 * Blob: version 1 | key id 4 | iv 12 | tag 16 | ciphertext. The key id (the first bytes of the key's
 * SHA-256) says "encrypted under another key" plainly; what the secret belongs to (`boundTo`: a webhook's
 * id, `external-acme-account:<id>`, ...) is authenticated with the blob (GCM additional data), so a secret
 * copied onto another row, or into another kind of row, does not open. Webhook secrets are bound to the
 * bare webhook id, as they always were: blobs written before this file served other secrets still open.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const KEY_ID_LENGTH = 4;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH;

/** Why a stored secret could not be read; its message names no secret. */
export class GatewaySecretUnreadable extends Error {}

export class GatewaySecretBox {
  private readonly key: Buffer;
  private readonly keyId: Buffer;

  constructor(config: { WEBHOOK_SECRET_KEY?: string; PLATFORM_ADMIN_KEY: string }) {
    const [material, info] = config.WEBHOOK_SECRET_KEY
      ? [Buffer.from(config.WEBHOOK_SECRET_KEY, 'base64'), 'signet webhook secrets v1']
      : [Buffer.from(config.PLATFORM_ADMIN_KEY, 'utf8'), 'signet webhook secrets from PLATFORM_ADMIN_KEY v1'];
    this.key = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), info, 32));
    this.keyId = createHash('sha256').update(this.key).digest().subarray(0, KEY_ID_LENGTH);
  }

  seal(secret: string, boundTo: string): Buffer {
    const header = Buffer.concat([Buffer.from([VERSION]), this.keyId]);
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.concat([header, Buffer.from(boundTo, 'utf8')]));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
  }

  open(blob: Buffer, boundTo: string): string {
    if (blob.length <= HEADER_LENGTH + IV_LENGTH + TAG_LENGTH || blob[0] !== VERSION) throw new GatewaySecretUnreadable('the stored secret is damaged');
    const header = blob.subarray(0, HEADER_LENGTH);
    if (!header.subarray(1).equals(this.keyId)) {
      throw new GatewaySecretUnreadable('the stored secret was encrypted under another WEBHOOK_SECRET_KEY (or PLATFORM_ADMIN_KEY, when that is unset)');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, blob.subarray(HEADER_LENGTH, HEADER_LENGTH + IV_LENGTH));
      decipher.setAAD(Buffer.concat([header, Buffer.from(boundTo, 'utf8')]));
      decipher.setAuthTag(blob.subarray(HEADER_LENGTH + IV_LENGTH, HEADER_LENGTH + IV_LENGTH + TAG_LENGTH));
      return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH + IV_LENGTH + TAG_LENGTH)), decipher.final()]).toString('utf8');
    } catch {
      throw new GatewaySecretUnreadable('the stored secret is damaged');
    }
  }
}

