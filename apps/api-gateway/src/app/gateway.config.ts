import { IsOptional, IsString, Matches, MinLength, ValidateBy } from 'class-validator';
import { IsIntBetween, IsPort } from '@signet/service';
import { isTrustProxyList } from './trusted-proxies';
import { ExternalAcmeConfig } from './external-acme/external-acme.config';

/** The gateway's environment. It never reads MASTER_KEY: it cannot sign or decrypt anything. */
export class GatewayConfig extends ExternalAcmeConfig {
  @IsPort('PORT')
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  /** The HTTPS listener (API.md section 7): everything PORT serves, over TLS, on HOST too. */
  @IsPort('HTTPS_PORT')
  HTTPS_PORT = 3443;

  /** PEM files of the HTTPS certificate (its chain may follow it) and key; when unset one is issued at start (see below). */
  @IsOptional()
  @IsString()
  GATEWAY_TLS_CERT?: string = undefined;

  @IsOptional()
  @IsString()
  GATEWAY_TLS_KEY?: string = undefined;

  /**
   * Without files: the CA that issues the HTTPS certificate at start (clients trust it through
   * /pki/cas/<id>/ca.crt). Unset too: a self-signed certificate made at start (for trials only).
   */
  @IsOptional()
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'GATEWAY_TLS_CA_ID must be a CA id (UUID)' })
  GATEWAY_TLS_CA_ID?: string = undefined;

  /** Names of the issued or self-signed HTTPS certificate, comma-separated (DNS names or IPs). */
  @Matches(/^[A-Za-z0-9.:*-]+(,[A-Za-z0-9.:*-]+)*$/, { message: 'GATEWAY_TLS_HOSTNAMES must be comma-separated DNS names or IPs' })
  GATEWAY_TLS_HOSTNAMES = 'localhost,127.0.0.1';

  @IsString({ message: 'PLATFORM_ADMIN_KEY is required (at least 32 characters)' })
  @MinLength(32, { message: 'PLATFORM_ADMIN_KEY must be at least 32 characters' })
  PLATFORM_ADMIN_KEY: string;

  /** Base of the URLs placed in certificates (CRL distribution point, OCSP, caIssuers). */
  @Matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { message: 'PUBLIC_BASE_URL must be an http(s) URL' })
  PUBLIC_BASE_URL = 'http://127.0.0.1:3000';

  /** Gateway processes sharing PORT on this host (node:cluster); each is a full replica. */
  @IsIntBetween('GATEWAY_WORKERS', 1, 64)
  GATEWAY_WORKERS = 1;

  /**
   * Issuance requests arriving within this many ms of each other travel to the signer as one job (0:
   * only those arriving in the same event-loop turn). Trades a little latency for far fewer round trips.
   */
  @IsIntBetween('ISSUE_COALESCE_MS', 0, 50)
  ISSUE_COALESCE_MS = 2;

  /** At most this many requests in one coalesced job (it is sent at once when full). */
  @IsIntBetween('ISSUE_COALESCE_MAX', 1, 256)
  ISSUE_COALESCE_MAX = 64;

  @IsIntBetween('BODY_LIMIT_BYTES', 1024, 100 * 1024 * 1024)
  BODY_LIMIT_BYTES = 1024 * 1024;

  /** Requests per window and key (per IP without a key), by class; shared by all replicas through Redis. */
  @IsIntBetween('RATE_LIMIT_GENERAL', 1, 10_000_000)
  RATE_LIMIT_GENERAL = 1000;

  /** Issue, renew and enroll requests per window and key. */
  @IsIntBetween('RATE_LIMIT_ISSUE', 1, 10_000_000)
  RATE_LIMIT_ISSUE = 300;

  /** Batch requests per window and key. */
  @IsIntBetween('RATE_LIMIT_BATCH', 1, 10_000_000)
  RATE_LIMIT_BATCH = 60;

  @IsIntBetween('RATE_LIMIT_WINDOW_SECONDS', 1, 86_400)
  RATE_LIMIT_WINDOW_SECONDS = 60;

  /**
   * The reverse proxies in front of the gateway, comma-separated IPs or CIDRs: X-Forwarded-For is read
   * (right to left, past these hops) only from them. Empty: none; the client is the TCP peer.
   */
  @ValidateBy(
    { name: 'isTrustProxyList', validator: { validate: isTrustProxyList } },
    { message: 'TRUST_PROXY must be comma-separated IP addresses or CIDRs (10.0.0.0/8, fd00::/8), or empty' },
  )
  TRUST_PROXY = '';

  /**
   * Refused requests without a valid key, and 429s, are audited as one event per window and (client IP,
   * event type, error code), with their count, instead of one each.
   */
  @IsIntBetween('AUDIT_NOISE_WINDOW_SECONDS', 1, 3600)
  AUDIT_NOISE_WINDOW_SECONDS = 60;

  /**
   * Bytes of CRLs each gateway process keeps in memory, least recently served evicted first; a CRL
   * larger than this is served but not kept (each request after it reads it again). 0 keeps none.
   */
  @IsIntBetween('CRL_CACHE_MAX_BYTES', 0, 64 * 1024 * 1024 * 1024)
  CRL_CACHE_MAX_BYTES = 256 * 1024 * 1024;
}
