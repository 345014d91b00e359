/**
 * What `dnsProvider` may hold (API.md section 8), checked field by field for the API's 400
 * `validation_failed` (`dnsProvider.tsigSecret: ...`), and how it is shown in logs, audit events and API
 * answers: with every credential replaced. One table says, for each provider, its fields, which are
 * required, how each is checked, and which are secret; both functions read it.
 *
 * What a request may not choose: where the HTTP providers send their credentials (`baseUrl`, `tokenUrl`
 * are not fields a request can give: a user-set URL would make the gateway send requests, with a
 * credential, to any host it can reach), and which program `exec` runs (only one on the operator's
 * allow-list, `execCommands`; none by default).
 */
import { isDomainName } from './dns-names';
import { parseNameserver } from './dns-transport';
import { readServiceAccountKey } from './google-service-account';

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512' | 'hmac-sha1';

export interface Rfc2136Config {
  type: 'rfc2136';
  /** `host:port`, `[v6]:port` or `host` (port 53). */
  nameserver: string;
  tsigKeyName: string;
  tsigAlgorithm: TsigAlgorithm;
  /** Base64. */
  tsigSecret: string;
  /** The zone to update; found by an SOA lookup at the nameserver, walking up from the name, when not given. */
  zone?: string;
  ttl?: number;
}

/** Runs `<command> present <fqdn> <value>` and `<command> cleanup <fqdn> <value>`: an absolute path, no shell. */
export interface ExecConfig {
  type: 'exec';
  command: string;
}

export interface CloudflareConfig {
  type: 'cloudflare';
  apiToken: string;
  /** Default `https://api.cloudflare.com` (paths `/client/v4/...`). Set by code only (tests' stand-ins), never from a request. */
  baseUrl?: string;
}

export interface Route53Config {
  type: 'route53';
  accessKeyId: string;
  secretAccessKey: string;
  /** Skips the lookup by name (`Z123...` or `/hostedzone/Z123...`). */
  hostedZoneId?: string;
  /** The signing region (Route 53 is global: default `us-east-1`). */
  region?: string;
  /** Default `https://route53.amazonaws.com` (paths `/2013-04-01/...`). Set by code only, never from a request. */
  baseUrl?: string;
}

export interface DigitalOceanConfig {
  type: 'digitalocean';
  apiToken: string;
  /** Default `https://api.digitalocean.com` (paths `/v2/...`). Set by code only, never from a request. */
  baseUrl?: string;
}

export interface GoDaddyConfig {
  type: 'godaddy';
  apiKey: string;
  apiSecret: string;
  /** Default `https://api.godaddy.com` (paths `/v1/...`). Set by code only, never from a request. */
  baseUrl?: string;
}

export interface GcloudConfig {
  type: 'gcloud';
  project: string;
  /** The service account's JSON key file as text (`client_email`, `private_key`). */
  serviceAccountJson: string;
  /** Default `https://dns.googleapis.com` (paths `/dns/v1/...`). Set by code only, never from a request. */
  baseUrl?: string;
  /** Default `https://oauth2.googleapis.com/token` (the key file's `token_uri` is not followed: it is the user's text). Set by code only. */
  tokenUrl?: string;
}

export type DnsProviderConfig = Rfc2136Config | ExecConfig | CloudflareConfig | Route53Config | DigitalOceanConfig | GoDaddyConfig | GcloudConfig;

export type DnsProviderType = DnsProviderConfig['type'];

export const DNS_PROVIDER_TYPES: readonly DnsProviderType[] = ['rfc2136', 'exec', 'cloudflare', 'route53', 'digitalocean', 'godaddy', 'gcloud'];


export const REDACTED = '[redacted]';

type Check = (value: unknown) => string | null;

interface FieldRule {
  required?: boolean;
  secret?: boolean;
  check: Check;
}

const PRINTABLE = /^[\x21-\x7e]+$/;

/** A string of 1 to `max` characters matching `pattern`, else `message`. */
const text =
  (max: number, pattern: RegExp, message: string): Check =>
  (value) => {
    if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
    if (value.length > max) return `must be at most ${max} characters`;
    return pattern.test(value) ? null : message;
  };

const credential = (max = 1024): Check => text(max, PRINTABLE, 'must be printable ASCII without spaces');

const domainName: Check = (value) => {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  return isDomainName(value) ? null : 'must be a domain name';
};

const TSIG_ALGORITHMS: readonly TsigAlgorithm[] = ['hmac-sha256', 'hmac-sha512', 'hmac-sha1'];
/** RFC 8945 6: keys shorter than this are too weak to take. */
const MIN_TSIG_KEY_BYTES = 16;

const RULES: Record<DnsProviderType, Record<string, FieldRule>> = {
  rfc2136: {
    nameserver: { required: true, check: (v) => (typeof v === 'string' && v.length <= 300 && parseNameserver(v) ? null : 'must be host:port (an IP address or host name, [v6]:port for IPv6)') },
    tsigKeyName: { required: true, check: domainName },
    tsigAlgorithm: { required: true, check: (v) => (TSIG_ALGORITHMS.includes(v as TsigAlgorithm) ? null : `must be one of ${TSIG_ALGORITHMS.join(', ')}`) },
    tsigSecret: {
      required: true,
      secret: true,
      check: (v) => {
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v) || v.length % 4 !== 0 || v.length > 1024) return 'must be base64';
        return Buffer.from(v, 'base64').length >= MIN_TSIG_KEY_BYTES ? null : `must be a key of at least ${MIN_TSIG_KEY_BYTES} bytes`;
      },
    },
    zone: { check: domainName },
    ttl: { check: (v) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 86_400 ? null : 'must be a whole number of seconds from 1 to 86400') },
  },
  exec: {
    command: { required: true, check: text(1024, /^\/[^\x00-\x1f\x7f]*$/, "must be a program's absolute path (no arguments: it is run without a shell)") },
  },
  cloudflare: {
    apiToken: { required: true, secret: true, check: credential() },
  },
  route53: {
    accessKeyId: { required: true, secret: true, check: text(128, /^[A-Za-z0-9]{16,}$/, 'must be an AWS access key id (16 or more letters and digits)') },
    secretAccessKey: { required: true, secret: true, check: credential(256) },
    hostedZoneId: { check: text(64, /^(\/?hostedzone\/)?[A-Za-z0-9]+$/, 'must be a hosted zone id (Z...)') },
    region: { check: text(32, /^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region (us-east-1)') },
  },
  digitalocean: {
    apiToken: { required: true, secret: true, check: credential() },
  },
  godaddy: {
    apiKey: { required: true, secret: true, check: text(256, /^[\x21-\x39\x3b-\x7e]+$/, 'must be printable ASCII without spaces or colons') },
    apiSecret: { required: true, secret: true, check: credential(256) },
  },
  gcloud: {
    project: { required: true, check: text(100, /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id') },
    serviceAccountJson: {
      required: true,
      secret: true,
      check: (v) => {
        if (typeof v !== 'string' || v.length === 0) return 'must be a non-empty string (the key file)';
        if (v.length > 16_384) return 'must be at most 16384 characters';
        try {
          readServiceAccountKey(v);
          return null;
        } catch (error) {
          return `is not a service account key file: it ${(error as Error).message}`;
        }
      },
    },
  },
};

export interface DnsProviderConfigError {
  field: string;
  message: string;
}

export interface DnsProviderPolicy {
  /** The absolute paths the `exec` provider may run (the operator's allow-list); empty or absent: `exec` is refused. */
  execCommands?: readonly string[];
}

/** `input` as a provider config, or every field that is wrong, named as `dnsProvider.<field>` (no value is repeated). */
export function validateDnsProviderConfig(input: unknown, policy: DnsProviderPolicy = {}): { config: DnsProviderConfig } | { errors: DnsProviderConfigError[] } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { errors: [{ field: 'dnsProvider', message: 'must be an object' }] };
  const given = input as Record<string, unknown>;
  const type = given['type'];
  if (typeof type !== 'string' || !DNS_PROVIDER_TYPES.includes(type as DnsProviderType)) {
    return { errors: [{ field: 'dnsProvider.type', message: `must be one of ${DNS_PROVIDER_TYPES.join(', ')}` }] };
  }
  const rules = RULES[type as DnsProviderType];
  const errors: DnsProviderConfigError[] = [];
  const config: Record<string, unknown> = { type };
  for (const [name, rule] of Object.entries(rules)) {
    const value = given[name];
    if (value === undefined || value === null) {
      if (rule.required) errors.push({ field: `dnsProvider.${name}`, message: 'is required' });
      continue;
    }
    const problem = rule.check(value);
    if (problem) errors.push({ field: `dnsProvider.${name}`, message: problem });
    else config[name] = value;
  }
  for (const name of Object.keys(given)) {
    if (name !== 'type' && !(name in rules)) errors.push({ field: `dnsProvider.${name}`, message: `is not a field of the ${type} provider` });
  }
  if (type === 'exec' && typeof config['command'] === 'string' && !(policy.execCommands ?? []).includes(config['command'])) {
    errors.push({ field: 'dnsProvider.command', message: "is not on the operator's allow-list of DNS hook commands (EXTERNAL_ACME_EXEC_COMMANDS)" });
  }
  return errors.length > 0 ? { errors } : { config: config as unknown as DnsProviderConfig };
}

/**
 * The config with every credential replaced by `[redacted]` (TSIG secret, API tokens and keys, AWS keys,
 * the service account key file, of which only its `client_email` is shown), for logs, audit and answers.
 */
export function redactDnsProviderConfig(config: DnsProviderConfig): Record<string, unknown> {
  const rules: Record<string, FieldRule> = RULES[config.type] ?? {};
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    if (name !== 'type' && !(name in rules)) continue; // nothing unchecked is repeated
    out[name] = rules[name]?.secret ? REDACTED : value;
  }
  if (config.type === 'gcloud') {
    try {
      out['serviceAccount'] = readServiceAccountKey(config.serviceAccountJson).clientEmail;
    } catch {
      // an unreadable key file shows no account
    }
  }
  return out;
}
