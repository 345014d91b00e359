/**
 * The gateway's HTTPS listener (API.md section 7), checked from outside with curl and openssl s_client
 * against the built gateway: a certificate issued at start by a CA of the platform (GATEWAY_TLS_CA_ID),
 * one from files (under node:cluster, two workers), and the self-signed trial one. Each serves what the
 * HTTP port serves (the API, /healthz, the /pki fast path), and the HTTP port keeps answering.
 */
import { RunningService, apiOk, freePort, spawnService, startGatewayProcess, startSigner, stopService, testServiceEnv } from '@signet/testing';
import { spawn } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PLATFORM_ADMIN_KEY = 'https-listener-platform-admin-key-0123456789';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command with its stdin closed at once (openssl s_client would otherwise wait on it). */
function run(command: string, args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

/** curl over HTTPS: `-w` puts the status on the last line. */
async function curl(url: string, args: string[]): Promise<{ code: number | null; status: number; body: string; stderr: string }> {
  const ran = await run('curl', ['-sS', '--max-time', '20', '-w', '\n%{http_code}', ...args, url]);
  const cut = ran.stdout.lastIndexOf('\n');
  return { code: ran.code, status: Number(ran.stdout.slice(cut + 1)), body: ran.stdout.slice(0, cut), stderr: ran.stderr };
}

/** What the server presents: openssl s_client's verdict against `caFile` (for 127.0.0.1), and the chain it sent. */
async function handshake(httpsUrl: string, caFile: string): Promise<{ verified: boolean; output: string; chain: X509Certificate[] }> {
  const { host } = new URL(httpsUrl);
  const ran = await run('openssl', ['s_client', '-connect', host, '-showcerts', '-CAfile', caFile, '-verify_ip', '127.0.0.1', '-verify_return_error']);
  const output = ran.stdout + ran.stderr;
  const chain = [...ran.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)].map((m) => new X509Certificate(m[0]));
  return { verified: ran.code === 0 && /Verify return code: 0 \(ok\)/.test(output), output, chain };
}

const sha256 = (der: Buffer) => createHash('sha256').update(der).digest('hex');

describe('the gateway HTTPS listener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-https-'));
  const gateways: RunningService[] = [];
  let signer: RunningService;
  let url: string;
  let trialHttpsUrl: string;
  let adminKey: string;
  let caId: string;
  let caPem: string;
  const caFile = join(dir, 'ca.pem');

  const startGateway = async (env: Record<string, string>) => {
    const started = await startGatewayProcess({ PLATFORM_ADMIN_KEY, ...env });
    gateways.push(started.gateway);
    return started;
  };

  beforeAll(async () => {
    signer = await startSigner();
    // The trial gateway: no GATEWAY_TLS_* at all.
    const trial = await startGateway({ LOG_LEVEL: 'warn' });
    ({ url, httpsUrl: trialHttpsUrl } = trial);
    adminKey = (await apiOk(url, 'POST', '/api/v1/platform/orgs', { body: { name: 'HTTPS org', slug: `https-${randomBytes(4).toString('hex')}` }, key: PLATFORM_ADMIN_KEY })).adminKey;
    caId = (await apiOk(url, 'POST', '/api/v1/cas', { body: { name: 'Gateway TLS', subject: { commonName: 'Gateway TLS Root' } }, key: adminKey })).ca.id;
    caPem = (await apiOk(url, 'GET', `/api/v1/cas/${caId}`, { key: adminKey })).ca.certificatePem;
    writeFileSync(caFile, caPem);
  }, 120_000);

  afterAll(async () => {
    const codes = await Promise.all([...gateways, signer].filter(Boolean).map((service) => stopService(service)));
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual(codes.map(() => 0));
  });

  describe('issued at start by GATEWAY_TLS_CA_ID', () => {
    let httpsUrl: string;
    let httpUrl: string;

    beforeAll(async () => {
      ({ httpsUrl, url: httpUrl } = await startGateway({ GATEWAY_TLS_CA_ID: caId, GATEWAY_TLS_HOSTNAMES: 'localhost,127.0.0.1,gateway.example.test' }));
    }, 90_000);

    it('presents a certificate that chains to that CA and names 127.0.0.1 (openssl s_client)', async () => {
      const { verified, output, chain } = await handshake(httpsUrl, caFile);
      expect({ verified, output }).toMatchObject({ verified: true });
      const [leaf] = chain;
      expect(leaf.checkIssued(new X509Certificate(caPem))).toBe(true);
      expect(leaf.subjectAltName).toEqual('DNS:localhost, DNS:gateway.example.test, IP Address:127.0.0.1');
      expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
      // Issued like any other certificate: in the API, under that CA.
      const listed = await apiOk(httpUrl, 'GET', `/api/v1/certificates?caId=${caId}`, { key: adminKey });
      expect(listed.certificates.map((c: { fingerprintSha256: string }) => c.fingerprintSha256)).toContain(sha256(leaf.raw));
    });

    it('answers the API, /healthz and the /pki fast path over HTTPS to a client that trusts only that CA (curl --cacert)', async () => {
      const whoami = await curl(`${httpsUrl}/api/v1/whoami`, ['--cacert', caFile, '-H', `Authorization: Bearer ${adminKey}`]);
      expect(whoami).toMatchObject({ code: 0, status: 200 });
      expect(JSON.parse(whoami.body)).toMatchObject({ org: { slug: expect.stringMatching(/^https-/) }, apiKey: { role: 'admin' } });
      expect(await curl(`${httpsUrl}/healthz`, ['--cacert', caFile])).toMatchObject({ code: 0, status: 200 });
      const caCrt = join(dir, 'served-ca.crt');
      expect(await curl(`${httpsUrl}/pki/cas/${caId}/ca.crt`, ['--cacert', caFile, '-o', caCrt])).toMatchObject({ code: 0, status: 200 });
      expect(sha256(readFileSync(caCrt))).toBe(sha256(new X509Certificate(caPem).raw));
      // A body over TLS: an issuance.
      const issued = await curl(`${httpsUrl}/api/v1/certificates`, [
        '--cacert', caFile, '-H', `Authorization: Bearer ${adminKey}`, '-H', 'Content-Type: application/json',
        '--data', JSON.stringify({ caId, commonName: 'over-https.example.test' }),
      ]);
      expect(issued).toMatchObject({ code: 0, status: 201 });
      // The API's error shape and request id over HTTPS too.
      const refused = await curl(`${httpsUrl}/api/v1/whoami`, ['--cacert', caFile, '-H', 'X-Request-Id: https-refused-1']);
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'unauthorized', requestId: 'https-refused-1' });
    });

    it('keeps answering on the HTTP port', async () => {
      expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${httpUrl}/pki/cas/${caId}/ca.crt`)).status).toBe(200);
    });

    it('is refused by a client that trusts another CA', async () => {
      const other = join(dir, 'other.pem');
      writeFileSync(other, await trialRoot());
      expect((await curl(`${httpsUrl}/healthz`, ['--cacert', other])).code).toBe(60);
    });
  });

  describe('from GATEWAY_TLS_CERT/GATEWAY_TLS_KEY files, in two cluster workers', () => {
    const certFile = join(dir, 'files-cert.pem');
    const keyFile = join(dir, 'files-key.pem');
    let httpsUrl: string;
    let httpUrl: string;

    beforeAll(async () => {
      const made = await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
        '-days', '2', '-subj', '/CN=files.example.test', '-addext', 'subjectAltName=DNS:files.example.test,IP:127.0.0.1',
      ]);
      expect(made.code).toBe(0);
      ({ httpsUrl, url: httpUrl } = await startGateway({ GATEWAY_TLS_CERT: certFile, GATEWAY_TLS_KEY: keyFile, GATEWAY_WORKERS: '2' }));
    }, 60_000);

    it('presents that certificate and serves the API and /pki over HTTPS, the HTTP port still answering', async () => {
      const { verified, chain } = await handshake(httpsUrl, certFile);
      expect(verified).toBe(true);
      expect(sha256(chain[0].raw)).toBe(sha256(new X509Certificate(readFileSync(certFile)).raw));
      // Several connections: the two workers share the port, each with the same certificate.
      for (let i = 0; i < 4; i++) {
        expect(await curl(`${httpsUrl}/api/v1/whoami`, ['--cacert', certFile, '-H', `Authorization: Bearer ${adminKey}`])).toMatchObject({ code: 0, status: 200 });
      }
      expect(await curl(`${httpsUrl}/pki/cas/${caId}/ca.crt`, ['--cacert', certFile, '-o', '/dev/null'])).toMatchObject({ code: 0, status: 200 });
      expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
    });

    it('refuses to start with only one of the two files, naming both variables', async () => {
      const gateway = spawnService('api-gateway', {
        ...testServiceEnv(), PLATFORM_ADMIN_KEY, PORT: String(await freePort()), HTTPS_PORT: String(await freePort()), HOST: '127.0.0.1', GATEWAY_TLS_CERT: certFile,
      });
      const code = await Promise.race([gateway.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000).unref())]);
      await stopService(gateway);
      expect(code).toBe(1);
      expect(gateway.output()).toContain('set both GATEWAY_TLS_CERT and GATEWAY_TLS_KEY, or neither');
    });
  });

  describe('self-signed, for a trial (no GATEWAY_TLS_*)', () => {
    it('serves over HTTPS under a throw-away root, names 127.0.0.1, and says so in the log', async () => {
      const root = join(dir, 'trial-root.pem');
      writeFileSync(root, await trialRoot());
      const { verified, chain } = await handshake(trialHttpsUrl, root);
      expect(verified).toBe(true);
      // Node escapes the comma in the common name (RFC 4514).
      expect(chain[1].subject).toMatch(/CN=Signet api-gateway \(self-signed\\?, trial only\)/);
      expect(chain[0].checkIP('127.0.0.1')).toBe('127.0.0.1');
      // Nothing a client trusts already: refused without pinning, answered with -k or the pinned root.
      expect((await curl(`${trialHttpsUrl}/healthz`, [])).code).toBe(60);
      expect(await curl(`${trialHttpsUrl}/healthz`, ['-k'])).toMatchObject({ code: 0, status: 200 });
      expect(await curl(`${trialHttpsUrl}/pki/cas/${caId}/ca.crt`, ['--cacert', root, '-o', '/dev/null'])).toMatchObject({ code: 0, status: 200 });
      expect(gateways[0].output()).toContain('no GATEWAY_TLS_CERT/GATEWAY_TLS_KEY and no GATEWAY_TLS_CA_ID: serving a self-signed certificate (trial only)');
    });
  });

  /** The trial gateway's throw-away root, as a client pinning it would take it (the last of the chain it sends). */
  async function trialRoot(): Promise<string> {
    const { host } = new URL(trialHttpsUrl);
    const ran = await run('openssl', ['s_client', '-connect', host, '-showcerts']);
    const pems = [...ran.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)].map((m) => m[0]);
    return pems[pems.length - 1];
  }
});
