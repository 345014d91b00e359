/**
 * HTTP-01 for outside ACME CAs (RFC 8555 8.3): the key authorizations of orders in progress, kept in
 * Redis so that whichever gateway replica the CA's validator reaches answers
 * `GET /.well-known/acme-challenge/<token>` (on the HTTP and HTTPS listeners, without authentication,
 * as the CA asks). Each lives at most an hour, and goes when its order's attempt ends.
 */
import { Controller, Get, Header, Inject, Injectable, Param } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ApiError, Public, REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { OutsideAcmeError } from './outside-acme-client';

/** RFC 8555 8.3: a token is base64url; ours are bounded so a probe cannot make a huge key. */
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const LIFETIME_SECONDS = 3600;

@Injectable()
export class Http01Challenges {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  private key(token: string): string {
    return `${this.config.QUEUE_PREFIX}:external-acme:http01:${token}`;
  }

  async put(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new OutsideAcmeError('the CA sent an http-01 token that is not base64url (16 to 128 characters)');
    await this.redis.set(this.key(token), keyAuthorization, 'EX', LIFETIME_SECONDS);
  }

  async remove(token: string): Promise<void> {
    if (TOKEN.test(token)) await this.redis.del(this.key(token));
  }

  async get(token: string): Promise<string | null> {
    return TOKEN.test(token) ? this.redis.get(this.key(token)) : null;
  }
}

@ApiExcludeController()
@Controller('.well-known/acme-challenge')
export class Http01ChallengesController {
  constructor(private readonly challenges: Http01Challenges) {}

  @Get(':token')
  @Public()
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async answer(@Param('token') token: string): Promise<string> {
    const keyAuthorization = await this.challenges.get(token);
    if (keyAuthorization === null) throw ApiError.notFound('challenge');
    return keyAuthorization;
  }
}
