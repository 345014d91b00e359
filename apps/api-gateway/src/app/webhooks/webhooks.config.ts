import { IsBooleanFlag, IsIntBetween } from '@signet/service';
import { IsOptional, ValidateBy } from 'class-validator';
import { AcmeConfig } from '../acme/acme.config';

const isKey32 = (value: unknown) => typeof value === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(value) && Buffer.from(value, 'base64').length === 32;

/** The webhooks' environment (API.md section 9); the gateway's config extends it. */
export class WebhooksConfig extends AcmeConfig {
  /**
   * 32 random bytes, base64: encrypts the webhooks' signing secrets at rest (AES-256-GCM). The gateway's
   * own key (the signers' MASTER_KEY never reaches it). Unset: one derived from PLATFORM_ADMIN_KEY.
   */
  @IsOptional()
  @ValidateBy({ name: 'isKey32', validator: { validate: isKey32 } }, { message: 'WEBHOOK_SECRET_KEY must be 32 bytes, base64 (openssl rand -base64 32)' })
  WEBHOOK_SECRET_KEY?: string = undefined;

  /** Whether this gateway process dispatches events, sweeps expiry notices and delivers (every replica does by default). */
  @IsBooleanFlag('WEBHOOK_WORKER')
  WEBHOOK_WORKER = true;

  /** How often the dispatcher reads new audit events into deliveries (one dispatcher at a time across replicas). */
  @IsIntBetween('WEBHOOK_DISPATCH_INTERVAL_MS', 50, 60_000)
  WEBHOOK_DISPATCH_INTERVAL_MS = 1000;

  /** How often expiry notices (30/14/7/1 days before validTo, and expired) are looked for. */
  @IsIntBetween('WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS', 100, 86_400_000)
  WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS = 300_000;

  /** Deliveries each gateway process sends at once (a hanging receiver holds one for WEBHOOK_TIMEOUT_MS). */
  @IsIntBetween('WEBHOOK_CONCURRENCY', 1, 1000)
  WEBHOOK_CONCURRENCY = 20;

  /** One delivery attempt, connection to answer, at most this long. */
  @IsIntBetween('WEBHOOK_TIMEOUT_MS', 100, 60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  /**
   * The first retry's delay: it doubles up to 360 times this (1 h at the default), and retries stop
   * 8640 times this (24 h at the default) after the first attempt: 33 attempts.
   */
  @IsIntBetween('WEBHOOK_RETRY_BASE_MS', 1, 3_600_000)
  WEBHOOK_RETRY_BASE_MS = 10_000;
}
