/**
 * Everything a real ACME client needs to get a certificate from Signet, on loopback: the built signer
 * and gateway as processes (the gateway's HTTPS listener with a certificate the clients are told to
 * trust; the signer naming the gateway's HTTP port in certificates, for OCSP and CRLs), a DNS server authoritative for `acme.test` where every name resolves to 127.0.0.1 (the
 * gateway's ACME_DNS_RESOLVER, and where dns-01 hooks put their TXT records), an org with a root, an
 * issuing CA under it and a profile for `acme.test` on that issuing CA, and EAB keys on demand.
 * http-01 and tls-alpn-01 validation connect to ports picked free here, where a test starts its client.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiOk } from './api-client';
import { CaFiles } from './acme-checks';
import { DnsControl, startDnsControl } from './acme-dns-hooks';
import { ToolBox } from './acme-tools';
import { TestDnsServer, startDnsServer } from './dns-server';
import { RunningService, freePort, spawnService, startSigner, stopService, testServiceEnv, waitForHttp, waitForHttps } from './service-process';

export const ACME_TEST_ZONE = 'acme.test';

export interface AcmeEab {
  keyId: string;
  hmacKey: string;
}

export interface AcmeCertificateRecord {
  id: string;
  serialNumber: string;
  source: string;
  acmeAccountId: string | null;
  profileId: string;
  status: string;
  sanDns: string[];
}

export interface AcmeStack extends CaFiles {
  /** The gateway's HTTP port (PUBLIC_BASE_URL: /pki/ocsp, the REST API). */
  url: string;
  /** The gateway's HTTPS listener, where ACME clients go. */
  httpsUrl: string;
  /** `<httpsUrl>/acme/<orgSlug>/<profileSlug>/directory`. */
  directory: string;
  /** The PEM file clients trust for the gateway's HTTPS listener (REQUESTS_CA_BUNDLE, LEGO_CA_CERTIFICATES, acme_ca_root, CURL_CA_BUNDLE). */
  gatewayTrustFile: string;
  adminKey: string;
  profile: { id: string; slug: string; caId: string };
  /** Where the gateway validates http-01 and tls-alpn-01: a test's client listens here. */
  http01Port: number;
  tlsAlpn01Port: number;
  dns: TestDnsServer;
  dnsControl: DnsControl;
  /** This stack's temp directory (removed by close); `dirFor(name)` makes a subdirectory of it. */
  dir: string;
  dirFor(name: string): string;
  tools: ToolBox;
  /** What the gateway and the signer have printed so far. */
  serverLog(): string;
  /** A fresh EAB key for the profile (one account each). */
  eab(): Promise<AcmeEab>;
  /** The API's view of the certificate with `serialNumber` (uppercase hex), or null. */
  certificate(serialNumber: string): Promise<AcmeCertificateRecord | null>;
  close(): Promise<void>;
}

export interface AcmeStackOptions {
  /** A label for the temp directory and the org. */
  name: string;
  /** More gateway environment (overrides). */
  gatewayEnv?: Record<string, string>;
}

const PLATFORM_ADMIN_KEY = `acme-clients-platform-admin-${randomBytes(12).toString('hex')}`;

/** Start the stack; on any failure everything started so far is stopped again. */
export async function startAcmeStack(options: AcmeStackOptions): Promise<AcmeStack> {
  const dir = mkdtempSync(join(tmpdir(), `signet-acme-${options.name}-`));
  const home = join(dir, 'home');
  mkdirSync(home);
  const services: RunningService[] = [];
  let dns: TestDnsServer | undefined;
  let dnsControl: DnsControl | undefined;
  const serverLog = () => services.map((s, i) => `[${i === 0 ? 'signer' : 'gateway'}]\n${s.output()}`).join('\n');
  const tools = new ToolBox(home, serverLog);
  const close = async () => {
    await tools.close();
    await Promise.all(services.map((s) => stopService(s)));
    await dnsControl?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    dns = await startDnsServer({ zone: ACME_TEST_ZONE });
    dns.setDefaultA('127.0.0.1');
    dnsControl = await startDnsControl(dns, join(dir, 'hooks'));

    // The HTTPS listener's certificate: self-made, pinned by the clients.
    const gatewayTrustFile = join(dir, 'gateway-tls.pem');
    const gatewayKeyFile = join(dir, 'gateway-tls.key');
    await tools.mustRun('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', gatewayKeyFile, '-out', gatewayTrustFile,
      '-days', '2', '-subj', '/CN=Signet ACME test gateway', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);

    // The gateway's HTTP port is picked here: the signer writes it (PUBLIC_BASE_URL) into every
    // certificate as the OCSP and CRL location, which caddy staples from and openssl asks.
    const [port, httpsPort, http01Port, tlsAlpn01Port] = await distinctFreePorts(4);
    const url = `http://127.0.0.1:${port}`;
    const httpsUrl = `https://127.0.0.1:${httpsPort}`;
    services.push(await startSigner({ PUBLIC_BASE_URL: url }));
    const gateway = spawnService('api-gateway', {
      ...testServiceEnv(),
      HOST: '127.0.0.1',
      PORT: String(port),
      HTTPS_PORT: String(httpsPort),
      PUBLIC_BASE_URL: url,
      PLATFORM_ADMIN_KEY,
      GATEWAY_TLS_CERT: gatewayTrustFile,
      GATEWAY_TLS_KEY: gatewayKeyFile,
      ACME_DNS_RESOLVER: dns.address,
      ACME_HTTP01_PORT: String(http01Port),
      ACME_TLSALPN01_PORT: String(tlsAlpn01Port),
      ACME_VALIDATION_RETRY_MS: '200',
      ACME_VALIDATION_ATTEMPTS: '2',
      RATE_LIMIT_GENERAL: '100000',
      RATE_LIMIT_ISSUE: '100000',
      LOG_LEVEL: 'info',
      ...options.gatewayEnv,
    });
    services.push(gateway);
    await waitForHttp(`${url}/healthz`, gateway);
    await waitForHttps(`${httpsUrl}/healthz`, gateway);

    const slug = `acme-${options.name}-${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
    const { adminKey } = await apiOk(url, 'POST', '/api/v1/platform/orgs', { body: { name: `ACME ${options.name}`, slug }, key: PLATFORM_ADMIN_KEY });
    const api = (method: string, path: string, body?: object) => apiOk(url, method, path, { body, key: adminKey });
    const root = (await api('POST', '/api/v1/cas', { name: 'ACME test root', subject: { commonName: `ACME test root ${options.name}` } })).ca;
    const issuing = (await api('POST', '/api/v1/cas', { name: 'ACME test issuing', subject: { commonName: `ACME test issuing ${options.name}` }, parentCaId: root.id })).ca;
    const chain: string[] = (await api('GET', `/api/v1/cas/${issuing.id}/chain`)).chain;
    const rootFile = join(dir, 'profile-root.pem');
    const issuingFile = join(dir, 'profile-issuing.pem');
    writeFileSync(issuingFile, chain[0]);
    writeFileSync(rootFile, chain[chain.length - 1]);
    const profile = (
      await api('POST', '/api/v1/profiles', { name: 'ACME clients', slug: 'web', caId: issuing.id, allowedDomains: [ACME_TEST_ZONE], defaultValidityDays: 30 })
    ).profile;

    return {
      url,
      httpsUrl,
      directory: `${httpsUrl}/acme/${slug}/${profile.slug}/directory`,
      gatewayTrustFile,
      adminKey,
      profile: { id: profile.id, slug: profile.slug, caId: issuing.id },
      rootFile,
      issuingFile,
      http01Port,
      tlsAlpn01Port,
      dns,
      dnsControl,
      dir,
      dirFor: (name: string) => {
        const sub = join(dir, name);
        mkdirSync(sub, { recursive: true });
        return sub;
      },
      tools,
      serverLog,
      eab: async () => {
        const made = await api('POST', '/api/v1/acme/eab-keys', { profileId: profile.id, name: `eab-${randomBytes(3).toString('hex')}` });
        return { keyId: made.eabKey.keyId, hmacKey: made.hmacKey };
      },
      certificate: async (serialNumber: string) => {
        const serial = serialNumber.toUpperCase().replace(/^0+/, '');
        const listed = await api('GET', `/api/v1/certificates?search=${serial}&status=all`);
        return (listed.certificates as AcmeCertificateRecord[]).find((c) => c.serialNumber.replace(/^0+/, '') === serial) ?? null;
      },
      close,
    };
  } catch (error) {
    const log = serverLog();
    await close();
    throw new Error(`${(error as Error).message}${log ? `\n--- server log ---\n${log.slice(-6000)}` : ''}`);
  }
}

/** `count` free loopback ports, no two the same. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
