import type { DnsProviderType } from './dns-provider-config';

/** What a provider could not do, in the provider's own words (truncated, credentials removed). */
export class DnsProviderError extends Error {
  constructor(
    readonly provider: DnsProviderType,
    message: string,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'DnsProviderError';
  }
}

