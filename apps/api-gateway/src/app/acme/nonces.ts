/**
 * ACME anti-replay nonces (RFC 8555 6.5) in Redis, so a nonce handed out by one gateway replica is good
 * at every other: issuing one is a SET with a lifetime, using one is a DEL that only the first use wins.
 */
import { Inject, Injectable } from '@nestjs/common';
import { REDIS } from '@signet/service';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';

/** How long an unused nonce stays good. Clients fetch a fresh one per request, so this is generous. */
const NONCE_TTL_SECONDS = 3600;
/** 128 bits from a CSPRNG, base64url: what RFC 8555 asks (the value is opaque to clients). */
const NONCE_BYTES = 16;
const NONCE_SHAPE = /^[A-Za-z0-9_-]{22}$/;

@Injectable()
export class NonceStore {
  private readonly prefix: string;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    this.prefix = `${config.QUEUE_PREFIX}:acme:nonce:`;
  }

  async issue(): Promise<string> {
    const nonce = randomBytes(NONCE_BYTES).toString('base64url');
    await this.redis.set(this.prefix + nonce, '1', 'EX', NONCE_TTL_SECONDS);
    return nonce;
  }

  /** True exactly once per issued nonce, on whichever replica; false for unknown, used or expired ones. */
  async consume(nonce: unknown): Promise<boolean> {
    if (typeof nonce !== 'string' || !NONCE_SHAPE.test(nonce)) return false;
    return (await this.redis.del(this.prefix + nonce)) === 1;
  }
}
