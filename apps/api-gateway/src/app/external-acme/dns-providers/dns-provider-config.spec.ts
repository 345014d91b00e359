/**
 * validateDnsProviderConfig names each bad field (as the API's 400 validation_failed lists them) and
 * repeats no value; redactDnsProviderConfig leaves no secret anywhere in what it returns.
 */
import { generateKeyPairSync } from 'node:crypto';
import { redactDnsProviderConfig, validateDnsProviderConfig } from './dns-provider-config';
import type { DnsProviderConfig } from './dns-provider-config';

const serviceAccountJson = JSON.stringify({
  type: 'service_account',
  project_id: 'signet-dns-test',
  private_key_id: 'abc123',
  private_key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  client_email: 'dns01@signet-dns-test.iam.gserviceaccount.com',
});

const good: Record<DnsProviderConfig['type'], DnsProviderConfig> = {
  rfc2136: {
    type: 'rfc2136',
    nameserver: '192.0.2.53:53',
    tsigKeyName: 'acme-update.',
    tsigAlgorithm: 'hmac-sha256',
    tsigSecret: 'c2lnbmV0LXRzaWctc2VjcmV0LWZvci10ZXN0cw==',
    zone: 'example.com',
    ttl: 60,
  },
  exec: { type: 'exec', command: '/usr/local/bin/dns-hook' },
  cloudflare: { type: 'cloudflare', apiToken: 'cf-token-Yq3mX9vT2kLp8sRz' },
  route53: { type: 'route53', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', hostedZoneId: 'Z1D633PJN98FT9', region: 'us-east-1' },
  digitalocean: { type: 'digitalocean', apiToken: 'dop_v1_4f1c0ffee0ddba11' },
  godaddy: { type: 'godaddy', apiKey: 'dLP4f7uRkzMf_5Tc1mfhGvBn4rLyBiUmo', apiSecret: 'Sd7JzyvR2xFyBm1Cx9qrkW' },
  gcloud: { type: 'gcloud', project: 'signet-dns-test', serviceAccountJson },
};

const SECRETS: Record<DnsProviderConfig['type'], string[]> = {
  rfc2136: ['c2lnbmV0LXRzaWctc2VjcmV0LWZvci10ZXN0cw=='],
  exec: [],
  cloudflare: ['cf-token-Yq3mX9vT2kLp8sRz'],
  route53: ['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'],
  digitalocean: ['dop_v1_4f1c0ffee0ddba11'],
  godaddy: ['dLP4f7uRkzMf_5Tc1mfhGvBn4rLyBiUmo', 'Sd7JzyvR2xFyBm1Cx9qrkW'],
  gcloud: [serviceAccountJson, 'PRIVATE KEY', 'MII'],
};

/** The operator's allow-list these tests run under: the good exec config's hook is on it. */
const POLICY = { execCommands: ['/usr/local/bin/dns-hook'] };

const fields = (input: unknown): string[] => {
  const result = validateDnsProviderConfig(input, POLICY);
  return 'errors' in result ? result.errors.map((e) => e.field) : [];
};

describe('validateDnsProviderConfig', () => {
  it.each(Object.values(good))('takes a good $type config as it is', (config) => {
    expect(validateDnsProviderConfig(config, POLICY)).toEqual({ config });
  });

  it("runs only a hook command on the operator's allow-list (none by default)", () => {
    const notListed = { field: 'dnsProvider.command', message: "is not on the operator's allow-list of DNS hook commands (EXTERNAL_ACME_EXEC_COMMANDS)" };
    expect(validateDnsProviderConfig(good.exec)).toEqual({ errors: [notListed] });
    expect(validateDnsProviderConfig({ type: 'exec', command: '/bin/sh' }, POLICY)).toEqual({ errors: [notListed] });
    expect(validateDnsProviderConfig({ type: 'exec', command: '/usr/local/bin/dns-hook/../../../bin/sh' }, POLICY)).toEqual({ errors: [notListed] });
  });

  it('refuses what is not an object, and a type it does not know', () => {
    expect(validateDnsProviderConfig('rfc2136')).toEqual({ errors: [{ field: 'dnsProvider', message: 'must be an object' }] });
    expect(validateDnsProviderConfig([])).toEqual({ errors: [{ field: 'dnsProvider', message: 'must be an object' }] });
    expect(validateDnsProviderConfig({ type: 'bind' })).toEqual({
      errors: [{ field: 'dnsProvider.type', message: 'must be one of rfc2136, exec, cloudflare, route53, digitalocean, godaddy, gcloud' }],
    });
  });

  it('names each missing required field', () => {
    expect(fields({ type: 'rfc2136' })).toEqual(['dnsProvider.nameserver', 'dnsProvider.tsigKeyName', 'dnsProvider.tsigAlgorithm', 'dnsProvider.tsigSecret']);
    expect(fields({ type: 'exec' })).toEqual(['dnsProvider.command']);
    expect(fields({ type: 'cloudflare' })).toEqual(['dnsProvider.apiToken']);
    expect(fields({ type: 'route53' })).toEqual(['dnsProvider.accessKeyId', 'dnsProvider.secretAccessKey']);
    expect(fields({ type: 'digitalocean' })).toEqual(['dnsProvider.apiToken']);
    expect(fields({ type: 'godaddy' })).toEqual(['dnsProvider.apiKey', 'dnsProvider.apiSecret']);
    expect(fields({ type: 'gcloud' })).toEqual(['dnsProvider.project', 'dnsProvider.serviceAccountJson']);
  });

  it.each([
    ['rfc2136', 'nameserver', 'not a server:port', 'must be host:port (an IP address or host name, [v6]:port for IPv6)'],
    ['rfc2136', 'nameserver', '127.0.0.1:70000', 'must be host:port (an IP address or host name, [v6]:port for IPv6)'],
    ['rfc2136', 'tsigKeyName', 'bad key name!', 'must be a domain name'],
    ['rfc2136', 'tsigAlgorithm', 'hmac-md5', 'must be one of hmac-sha256, hmac-sha512, hmac-sha1'],
    ['rfc2136', 'tsigSecret', 'not base64!', 'must be base64'],
    ['rfc2136', 'tsigSecret', 'c2hvcnQ=', 'must be a key of at least 16 bytes'],
    ['rfc2136', 'zone', 'exa mple.com', 'must be a domain name'],
    ['rfc2136', 'ttl', 0, 'must be a whole number of seconds from 1 to 86400'],
    ['rfc2136', 'ttl', '60', 'must be a whole number of seconds from 1 to 86400'],
    ['exec', 'command', 'dns-hook present', "must be a program's absolute path (no arguments: it is run without a shell)"],
    ['exec', 'command', '/bin/hook\nrm -rf /', "must be a program's absolute path (no arguments: it is run without a shell)"],
    ['cloudflare', 'apiToken', 'has spaces in it', 'must be printable ASCII without spaces'],
    ['cloudflare', 'baseUrl', 'http://169.254.169.254', 'is not a field of the cloudflare provider'],
    ['route53', 'baseUrl', 'http://127.0.0.1:8200', 'is not a field of the route53 provider'],
    ['route53', 'accessKeyId', 'short', 'must be an AWS access key id (16 or more letters and digits)'],
    ['route53', 'secretAccessKey', '', 'must be a non-empty string'],
    ['route53', 'region', 'Mars', 'must be an AWS region (us-east-1)'],
    ['route53', 'hostedZoneId', 'zone id', 'must be a hosted zone id (Z...)'],
    ['digitalocean', 'apiToken', 42, 'must be a non-empty string'],
    ['godaddy', 'apiKey', 'key:with:colons', 'must be printable ASCII without spaces or colons'],
    ['gcloud', 'project', 'Bad_Project', 'must be a Google Cloud project id'],
    ['gcloud', 'serviceAccountJson', '{"client_email":"a@b.c"}', 'is not a service account key file: it has no private_key'],
    ['gcloud', 'serviceAccountJson', '{"client_email":"a@b.c","private_key":"-----BEGIN PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----"}', 'is not a service account key file: it has a private_key that is not a PEM private key'],
    ['gcloud', 'serviceAccountJson', 'not json', 'is not a service account key file: it is not a JSON object (a service account key file)'],
    ['gcloud', 'tokenUrl', 'http://10.0.0.1/token', 'is not a field of the gcloud provider'],
  ] as const)('%s: names dnsProvider.%s when it is %j', (type, field, bad, message) => {
    const result = validateDnsProviderConfig({ ...good[type], [field]: bad }, POLICY);
    expect(result).toEqual({ errors: [{ field: `dnsProvider.${field}`, message }] });
  });

  it('names every bad field at once, and fields that belong to no provider of that type, repeating no value', () => {
    const result = validateDnsProviderConfig({ type: 'rfc2136', nameserver: 'x y', tsigKeyName: 'k', tsigAlgorithm: 'md5', tsigSecret: 'secret-value!', apiToken: 'stray-token' });
    expect(result).toEqual({
      errors: [
        { field: 'dnsProvider.nameserver', message: expect.any(String) },
        { field: 'dnsProvider.tsigAlgorithm', message: expect.any(String) },
        { field: 'dnsProvider.tsigSecret', message: 'must be base64' },
        { field: 'dnsProvider.apiToken', message: 'is not a field of the rfc2136 provider' },
      ],
    });
    expect(JSON.stringify(result)).not.toMatch(/secret-value|stray-token/);
  });

  it('accepts IPv6 and host name nameservers, with the port or without', () => {
    for (const nameserver of ['[::1]:5353', '::1', 'ns1.example.com:53', 'ns1.example.com', '127.0.0.1']) {
      expect(fields({ ...good.rfc2136, nameserver })).toEqual([]);
    }
  });
});

describe('redactDnsProviderConfig', () => {
  it.each(Object.values(good))('leaves no secret of a $type config in what it returns', (config) => {
    const shown = JSON.stringify(redactDnsProviderConfig(config));
    for (const secret of SECRETS[config.type]) expect(shown).not.toContain(secret);
    for (const secret of SECRETS[config.type]) expect(shown.toLowerCase()).not.toContain(secret.toLowerCase().slice(0, 12));
  });

  it('keeps what is not secret, to tell configs apart in logs and answers', () => {
    expect(redactDnsProviderConfig(good.rfc2136)).toEqual({
      type: 'rfc2136',
      nameserver: '192.0.2.53:53',
      tsigKeyName: 'acme-update.',
      tsigAlgorithm: 'hmac-sha256',
      tsigSecret: '[redacted]',
      zone: 'example.com',
      ttl: 60,
    });
    expect(redactDnsProviderConfig(good.gcloud)).toEqual({
      type: 'gcloud',
      project: 'signet-dns-test',
      serviceAccountJson: '[redacted]',
      serviceAccount: 'dns01@signet-dns-test.iam.gserviceaccount.com',
    });
    expect(redactDnsProviderConfig(good.exec)).toEqual(good.exec);
  });

  it('drops fields that are not part of the provider (they were never checked)', () => {
    const sneaky = { ...good.cloudflare, password: 'hunter2-hunter2' } as unknown as DnsProviderConfig;
    expect(JSON.stringify(redactDnsProviderConfig(sneaky))).not.toContain('hunter2');
  });
});
