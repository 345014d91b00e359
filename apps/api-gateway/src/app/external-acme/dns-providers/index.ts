export { dnsProvider, DEFAULT_DNS_PROVIDER_TIMEOUT_MS } from './dns-provider';
export type { DnsProvider, DnsProviderOptions } from './dns-provider';
export { DNS_PROVIDER_TYPES, REDACTED, redactDnsProviderConfig, validateDnsProviderConfig } from './dns-provider-config';
export type {
  CloudflareConfig,
  DigitalOceanConfig,
  DnsProviderConfig,
  DnsProviderConfigError,
  DnsProviderPolicy,
  DnsProviderType,
  ExecConfig,
  GcloudConfig,
  GoDaddyConfig,
  Rfc2136Config,
  Route53Config,
  TsigAlgorithm,
} from './dns-provider-config';
export { DnsProviderError } from './dns-provider-error';
