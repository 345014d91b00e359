import { IsIntBetween } from '@signet/service';

/**
 * The public PKI endpoints' own settings, read from the environment next to GatewayConfig (main.ts
 * validates them at start-up, so a bad value stops the gateway with exit code 78 like any other).
 */
export class PkiConfig {
  /**
   * Bytes of CRLs each gateway process keeps in memory, least recently served evicted first; a CRL
   * larger than this is served but not kept (each request after it reads it again). 0 keeps none.
   */
  @IsIntBetween('CRL_CACHE_MAX_BYTES', 0, 64 * 1024 * 1024 * 1024)
  CRL_CACHE_MAX_BYTES = 256 * 1024 * 1024;
}
