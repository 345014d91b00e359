import { CommonConfig, IsBooleanFlag, IsIntBetween, IsPort } from '@signet/service';
import { Matches } from 'class-validator';

/** The ACME server's environment (API.md section 7); the gateway's config extends it. */
export class AcmeConfig extends CommonConfig {
  /** `host:port` of the DNS server validation resolves names (and dns-01 TXT records) through; empty: the system resolver. */
  @Matches(/^$|^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'ACME_DNS_RESOLVER must be host:port (or empty for the system resolver)' })
  ACME_DNS_RESOLVER = '';

  /** The port http-01 validation connects to (80 in the world; tests point it at a loopback server). */
  @IsPort('ACME_HTTP01_PORT')
  ACME_HTTP01_PORT = 80;

  /** The port tls-alpn-01 validation connects to (443 in the world). */
  @IsPort('ACME_TLSALPN01_PORT')
  ACME_TLSALPN01_PORT = 443;

  /** One validation attempt, connection to verdict, at most this long. */
  @IsIntBetween('ACME_VALIDATION_TIMEOUT_MS', 100, 120_000)
  ACME_VALIDATION_TIMEOUT_MS = 10_000;

  /** Attempts per challenge before it is invalid (the challenge stays processing between them). */
  @IsIntBetween('ACME_VALIDATION_ATTEMPTS', 1, 10)
  ACME_VALIDATION_ATTEMPTS = 3;

  /** First pause between attempts; doubled each time. */
  @IsIntBetween('ACME_VALIDATION_RETRY_MS', 100, 600_000)
  ACME_VALIDATION_RETRY_MS = 2_000;

  /** Validations each gateway process runs at once (a slow target holds one slot). */
  @IsIntBetween('ACME_VALIDATION_CONCURRENCY', 1, 1000)
  ACME_VALIDATION_CONCURRENCY = 50;

  /** Whether this gateway process works the validation queue (every replica does by default). */
  @IsBooleanFlag('ACME_VALIDATION_WORKER')
  ACME_VALIDATION_WORKER = true;

  /** Days an order may take from newOrder to finalize. */
  @IsIntBetween('ACME_ORDER_DAYS', 1, 30)
  ACME_ORDER_DAYS = 7;

  /** Days an authorization lives (pending, and then valid for reuse by later orders of the account). */
  @IsIntBetween('ACME_AUTHZ_DAYS', 1, 30)
  ACME_AUTHZ_DAYS = 7;

  /** New orders per ACME account per hour. */
  @IsIntBetween('ACME_ORDERS_PER_ACCOUNT_PER_HOUR', 1, 10_000_000)
  ACME_ORDERS_PER_ACCOUNT_PER_HOUR = 3_000;

  /** New orders per client IP per hour (all accounts together). */
  @IsIntBetween('ACME_ORDERS_PER_IP_PER_HOUR', 1, 10_000_000)
  ACME_ORDERS_PER_IP_PER_HOUR = 10_000;
}
