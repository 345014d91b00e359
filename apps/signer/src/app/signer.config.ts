import { Matches } from 'class-validator';
import { CommonConfig, IsIntBetween, IsPort } from '@signet/service';

/** The signer's environment: the only one that holds MASTER_KEY. */
export class SignerConfig extends CommonConfig {
  @IsPort('SIGNER_HEALTH_PORT')
  SIGNER_HEALTH_PORT = 8082;

  /** 32 random bytes, base64: the key that wraps every CA private key at rest. */
  @Matches(/^[A-Za-z0-9+/]{43}=$/, { message: 'MASTER_KEY must be 32 random bytes in base64 (openssl rand -base64 32)' })
  MASTER_KEY: string;

  @IsIntBetween('SIGNER_CONCURRENCY', 1, 512)
  SIGNER_CONCURRENCY = 32;

  /**
   * How long a job's lock lasts without renewal. A signer that dies (SIGKILL, OOM, lost node) holds its
   * active jobs until the lock runs out; then another signer takes them again. Shorter means a faster
   * recovery, at the price of more lock renewals in Redis.
   */
  @IsIntBetween('SIGNER_JOB_LOCK_MS', 1000, 600_000)
  SIGNER_JOB_LOCK_MS = 30_000;
}

export const masterKeyBytes = (config: SignerConfig): Buffer => Buffer.from(config.MASTER_KEY, 'base64');
