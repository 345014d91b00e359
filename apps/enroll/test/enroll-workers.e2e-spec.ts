/**
 * ENROLL_WORKERS: several enroll processes (node:cluster) sharing 8443, judged by real TLS clients (curl,
 * openssl s_client) against the built enroll and signer processes. What a device depends on must hold
 * whichever worker takes its connection: the rate limit (Redis) and revocation (PostgreSQL) are shared,
 * not kept in one worker's memory.
 */
import { loadConfig } from '@signet/service';
import { RunningService, apiCall, freePort, spawnService, startGatewayProcess, startSigner, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnrollConfig } from '../src/app/enroll.config';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PLATFORM_ADMIN_KEY = `test-platform-admin-${randomBytes(16).toString('hex')}`;

const dir = mkdtempSync(join(tmpdir(), 'signet-enroll-workers-'));
const run = (cmd: string, args: string[], input?: string) => {
  const r = spawnSync(cmd, args, { cwd: dir, input, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
};
const file = (name: string, data: string) => {
  writeFileSync(join(dir, name), data);
  return name;
};

describe('ENROLL_WORKERS configuration', () => {
  it('is 1 by default, 1-64, and above 1 needs a certificate every worker can share a trust anchor for', () => {
    expect(loadConfig(EnrollConfig, {}).ENROLL_WORKERS).toBe(1);
    expect(() => loadConfig(EnrollConfig, { ENROLL_WORKERS: '65' })).toThrow(/ENROLL_WORKERS must be an integer between 1 and 64/);
    expect(() => loadConfig(EnrollConfig, { ENROLL_WORKERS: '2' })).toThrow(/ENROLL_WORKERS above 1 needs ENROLL_TLS_CERT\/ENROLL_TLS_KEY or ENROLL_TLS_CA_ID/);
    expect(loadConfig(EnrollConfig, { ENROLL_WORKERS: '2', ENROLL_TLS_CA_ID: '00000000-0000-4000-8000-000000000000' }).ENROLL_WORKERS).toBe(2);
  });
});

describe('enrollment with ENROLL_WORKERS=2', () => {
  let gateway: RunningService;
  let signer: RunningService;
  let enroll: RunningService;
  let gatewayUrl: string;
  let adminKey: string;
  let url: string;
  let bootstrapId: string;
  const call = (method: string, path: string, body?: object) => apiCall(gatewayUrl, method, path, { body, key: adminKey });
  const ok = async (pending: ReturnType<typeof call>, status: number) => {
    const res = await pending;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res;
  };
  const deviceCertificate = async (name: string, commonName: string) => {
    const res = await ok(call('POST', '/api/v1/certificates', { caId: bootstrapId, commonName, usage: 'client' }), 201);
    file(`${name}.pem`, res.body.certificate.certificatePem);
    file(`${name}.key`, res.body.privateKey);
    expect(run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-op.key`, '-out', `${name}-op.csr`, '-subj', `/CN=${commonName}`]).status).toBe(0);
    return res.body.certificate;
  };
  /** One enrollment on a new connection (curl --cert): status and body. */
  const enrollWith = (name: string) => {
    const r = run('curl', ['-sS', '--max-time', '15', '--cacert', 'server-ca.pem', '--cert', `${name}.pem`, '--key', `${name}.key`, '-w', '\n%{http_code}',
      '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${name}-op.csr`, `${url}/v1/enroll`]);
    const lines = r.stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };

  /** The server certificates `connections` new handshakes (openssl s_client) were answered with, as PEM. */
  const serverCertificates = (port: number, connections: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < connections; i++) {
      const r = run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', join(dir, 'server-ca.pem'), '-cert', join(dir, 'probe.pem'), '-key', join(dir, 'probe.key')], '');
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
      if (pem) seen.add(pem);
    }
    return seen;
  };

  beforeAll(async () => {
    signer = await startSigner();
    ({ gateway, url: gatewayUrl } = await startGatewayProcess({ PLATFORM_ADMIN_KEY }));
    const org = await apiCall(gatewayUrl, 'POST', '/api/v1/platform/orgs', { body: { name: 'Workers org', slug: `workers-${randomBytes(4).toString('hex')}` }, key: PLATFORM_ADMIN_KEY });
    adminKey = org.body.adminKey;
    const ca = async (commonName: string) => (await ok(call('POST', '/api/v1/cas', { name: commonName, subject: { commonName } }), 201)).body.ca;
    const serverCa = await ca('Workers Enroll Server CA');
    file('server-ca.pem', serverCa.certificatePem);
    bootstrapId = (await ca('Workers Bootstrap CA')).id;
    const deviceCa = await ca('Workers Device CA');
    file('device-ca.pem', deviceCa.certificatePem);
    await ok(call('POST', '/api/v1/enrollment-policies', { name: 'Workers', trustedCaIds: [bootstrapId], issuingCaId: deviceCa.id, subjectRule: 'match-client-cn' }), 201);
    // The client certificate of the handshake probes below.
    await deviceCertificate('probe', 'probe-w');

    const healthPort = await freePort();
    const port = await freePort();
    enroll = spawnService('enroll', {
      ...testServiceEnv(), ENROLL_WORKERS: '2', ENROLL_PORT: String(port), ENROLL_HEALTH_PORT: String(healthPort), ENROLL_TLS_CA_ID: serverCa.id,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_RATE_LIMIT: '4',
    });
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, enroll);
    url = `https://127.0.0.1:${port}`;
    // Both workers listen once each has its certificate: until then a connection may find only one.
    for (let i = 0; i < 200 && serverCertificates(port, 4).size < 2; i++) await sleep(100);
  }, 90_000);
  afterAll(async () => {
    // SIGTERM to the primary reaches every worker; each shuts down gracefully and the primary exits 0.
    if (enroll) expect(await stopService(enroll)).toBe(0);
    if (gateway) expect(await stopService(gateway)).toBe(0);
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('answers from two worker processes, each with its own certificate from ENROLL_TLS_CA_ID; enrollments through both verify with openssl', async () => {
    const port = Number(new URL(url).port);
    const certificates = [...serverCertificates(port, 6)];
    expect(certificates).toHaveLength(2);
    certificates.forEach((pem, i) => {
      file(`server-${i}.pem`, pem);
      expect(run('openssl', ['verify', '-CAfile', 'server-ca.pem', `server-${i}.pem`]).out).toContain(`server-${i}.pem: OK`);
    });

    await deviceCertificate('sensor-w', 'sensor-w');
    for (let i = 0; i < 2; i++) {
      const res = enrollWith('sensor-w');
      expect(res.status).toBe(201);
      file(`sensor-w-${i}.pem`, JSON.parse(res.body).certificatePem);
      expect(run('openssl', ['verify', '-CAfile', 'device-ca.pem', `sensor-w-${i}.pem`]).out).toContain(`sensor-w-${i}.pem: OK`);
    }
  });

  it('counts the rate limit across workers: of 6 enrollments one after another (alternating workers) with a limit of 4, the last 2 get 429', async () => {
    await deviceCertificate('busy', 'busy-w');
    // The counter is per minute: keep the run away from a minute's end.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await sleep(left + 200);
    const statuses = Array.from({ length: 6 }, () => enrollWith('busy').status);
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
  });

  it('refuses a revoked certificate on every worker right after its revoke call returns', async () => {
    const device = await deviceCertificate('flipped', 'flipped-w');
    expect(enrollWith('flipped').status).toBe(201);
    await ok(call('POST', `/api/v1/certificates/${device.id}/revoke`, { reason: 'keyCompromise' }), 200);
    const refusals = [enrollWith('flipped'), enrollWith('flipped')];
    for (const refused of refusals) {
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'client_certificate_revoked', status: 403 });
    }
  });

  it('refuses a CSR whose signature does not verify (the signer checks it, enroll only reads it): 400 naming csrPem, audited', async () => {
    await deviceCertificate('tampered', 'tampered-w');
    expect(run('openssl', ['req', '-in', 'tampered-op.csr', '-outform', 'DER', '-out', 'tampered-op.der']).status).toBe(0);
    const der = readFileSync(join(dir, 'tampered-op.der'));
    der[der.length - 5] ^= 0x01; // inside the signature's s value: the request still parses
    file('tampered-op.csr', `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`);
    const refused = enrollWith('tampered');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'validation_failed', details: { fields: [{ field: 'csrPem', messages: [expect.stringMatching(/signature/)] }] } });
    const audit = await ok(call('GET', '/api/v1/audit?eventType=enroll.refused'), 200);
    expect(audit.body.events).toEqual(expect.arrayContaining([
      expect.objectContaining({ actor: expect.objectContaining({ type: 'device', name: 'tampered-w' }), error: expect.objectContaining({ code: 'validation_failed' }) }),
    ]));
  });
});
