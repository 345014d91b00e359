import { Matches } from 'class-validator';
import { CommonConfig, IsIntBetween, IsPort } from '@signet/service';

/** The signer's environment: the only one that holds MASTER_KEY. */
export class SignerConfig extends CommonConfig {
  @IsPort('SIGNER_HEALTH_PORT')
  SIGNER_HEALTH_PORT = 8082;

  /** 32 random bytes, base64: the key that wraps every CA private key at rest. */
  @Matches(/^[A-Za-z0-9+/]{43}=$/, { message: 'MASTER_KEY must be 32 random bytes in base64 (openssl rand -base64 32)' })
  MASTER_KEY: string;

  /** Base of the CRL, OCSP and caIssuers URLs in certificates the signer makes on its own (automatic renewals). */
  @Matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { message: 'PUBLIC_BASE_URL must be an http(s) URL' })
  PUBLIC_BASE_URL = 'http://127.0.0.1:3000';

  @IsIntBetween('SIGNER_CONCURRENCY', 1, 512)
  SIGNER_CONCURRENCY = 32;

  /**
   * One org's share of a signer process: at most this many of its issuance jobs run at once here (an
   * expensive key generation is a job of its own). Its further jobs wait, out of the way of other orgs'.
   */
  @IsIntBetween('ORG_ISSUE_CONCURRENCY', 1, 512)
  ORG_ISSUE_CONCURRENCY = 8;

  /**
   * How long a job's lock lasts without renewal. A signer that dies (SIGKILL, OOM, lost node) holds its
   * active jobs until the lock runs out; then another signer takes them again. Shorter means a faster
   * recovery, at the price of more lock renewals in Redis.
   */
  @IsIntBetween('SIGNER_JOB_LOCK_MS', 1000, 600_000)
  SIGNER_JOB_LOCK_MS = 30_000;

  /** How long a pre-signed OCSP response is valid (its nextUpdate - thisUpdate). */
  @IsIntBetween('OCSP_VALIDITY_SECONDS', 600, 30 * 86400)
  OCSP_VALIDITY_SECONDS = 4 * 86400;

  /** A response is signed again when its nextUpdate is this close. */
  @IsIntBetween('OCSP_REFRESH_MARGIN_SECONDS', 60, 29 * 86400)
  OCSP_REFRESH_MARGIN_SECONDS = 2 * 86400;

  /**
   * How long a revocation waits for every gateway process to acknowledge that it dropped its kept OCSP
   * answers for the serial; past it the try fails and is repeated (the revoke job fails after three).
   */
  @IsIntBetween('OCSP_CHANGE_ACK_TIMEOUT_MS', 100, 60_000)
  OCSP_CHANGE_ACK_TIMEOUT_MS = 5000;

  /** How long a CRL is valid (nextUpdate - thisUpdate). */
  @IsIntBetween('CRL_VALIDITY_SECONDS', 600, 30 * 86400)
  CRL_VALIDITY_SECONDS = 86400;

  /** A CRL is rebuilt on schedule when its nextUpdate is this close. */
  @IsIntBetween('CRL_REFRESH_MARGIN_SECONDS', 60, 29 * 86400)
  CRL_REFRESH_MARGIN_SECONDS = 6 * 3600;

  /** Revocations of one CA within this window become one CRL rebuild, at the window's end. */
  @IsIntBetween('CRL_REBUILD_DELAY_MS', 100, 3_600_000)
  CRL_REBUILD_DELAY_MS = 5000;

  /** How often the signers look for OCSP responses and CRLs due for re-signing. */
  @IsIntBetween('REVOCATION_SWEEP_INTERVAL_MS', 1000, 86_400_000)
  REVOCATION_SWEEP_INTERVAL_MS = 60_000;

  /**
   * Audit events older than this many days are deleted by the hourly retention sweep (through the
   * database's purge_audit_events, the one path its append-only trigger lets through). 0 keeps them forever.
   */
  @IsIntBetween('AUDIT_RETENTION_DAYS', 0, 36500)
  AUDIT_RETENTION_DAYS = 365;

  /** How often the signers renew certificates with autoRenew inside their renewalThresholdDays. */
  @IsIntBetween('RENEWAL_SWEEP_INTERVAL_MS', 1000, 86_400_000)
  RENEWAL_SWEEP_INTERVAL_MS = 3_600_000;

  /** How often the metrics gauges that need SQL or Redis (queue depth, OCSP/CRL freshness, expiring certificates) are computed. */
  @IsIntBetween('METRICS_COLLECT_INTERVAL_MS', 100, 3_600_000)
  METRICS_COLLECT_INTERVAL_MS = 30_000;
}

export const masterKeyBytes = (config: SignerConfig): Buffer => Buffer.from(config.MASTER_KEY, 'base64');
