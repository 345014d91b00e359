/**
 * DNS-01 providers: what puts the `_acme-challenge` TXT record up before the outside ACME CA looks, and
 * takes it down after (RFC 8555 section 8.4). One provider per `dnsProvider.type` of API.md section 8:
 * `rfc2136` (a dynamic update signed with TSIG, to any authoritative server), `exec` (a hook command, as
 * lego's exec provider), and the HTTP APIs of Cloudflare, Route 53, DigitalOcean, GoDaddy and Google Cloud
 * DNS.
 *
 * `present` adds the value beside any others at that name (a wildcard and its base name share one
 * `_acme-challenge` name) and returns once the provider has accepted it (Route 53 and Google Cloud DNS:
 * once the change is applied); `cleanup` removes that value only. Both are bounded by `timeoutMs` as a
 * whole. Errors are `DnsProviderError`s carrying the provider's own words, truncated, and never a
 * credential. Nothing here logs.
 */
import { cloudflareProvider } from './cloudflare';
import type { DnsProviderConfig } from './dns-provider-config';
import { digitalOceanProvider } from './digitalocean';
import { execProvider } from './exec';
import { gcloudProvider } from './gcloud';
import { godaddyProvider } from './godaddy';
import { rfc2136Provider } from './rfc2136';
import { route53Provider } from './route53';

export interface DnsProvider {
  /** Adds TXT `value` at `fqdn` (with or without the final dot). */
  present(fqdn: string, value: string): Promise<void>;
  /** Removes TXT `value` at `fqdn`, leaving other values there. */
  cleanup(fqdn: string, value: string): Promise<void>;
}

export interface DnsProviderOptions {
  /** The bound on one `present` or `cleanup`, all its requests and waits included (default 60 s). */
  timeoutMs?: number;
}

export const DEFAULT_DNS_PROVIDER_TIMEOUT_MS = 60_000;

export function dnsProvider(config: DnsProviderConfig, options: DnsProviderOptions = {}): DnsProvider {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DNS_PROVIDER_TIMEOUT_MS;
  switch (config.type) {
    case 'rfc2136':
      return rfc2136Provider(config, timeoutMs);
    case 'exec':
      return execProvider(config, timeoutMs);
    case 'cloudflare':
      return cloudflareProvider(config, timeoutMs);
    case 'route53':
      return route53Provider(config, timeoutMs);
    case 'digitalocean':
      return digitalOceanProvider(config, timeoutMs);
    case 'godaddy':
      return godaddyProvider(config, timeoutMs);
    case 'gcloud':
      return gcloudProvider(config, timeoutMs);
  }
}
