/**
 * Device enrollment on the mTLS port, judged by real TLS clients (curl, openssl s_client) against the
 * built enroll and signer processes, with the gateway's API (in this process) to set things up.
 */
import { buildCertificateSync, exportPrivateKeyPem, generateKeyPair, issuerOf, parseCertificate, toPem } from '@signet/pki';
import { RunningService, apiCall, freePort, spawnService, startGatewayProcess, startSigner, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PLATFORM_ADMIN_KEY = `test-platform-admin-${randomBytes(16).toString('hex')}`;

const dir = mkdtempSync(join(tmpdir(), 'signet-enroll-'));
const run = (cmd: string, args: string[], input?: string | Buffer) => {
  const r = spawnSync(cmd, args, { cwd: dir, input, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
};
const openssl = (...args: string[]) => run('openssl', args);
const file = (name: string, data: string | Buffer) => {
  writeFileSync(join(dir, name), data);
  return name;
};
const newCsr = (name: string, cn: string) => {
  expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`).status).toBe(0);
  return `${name}.csr`;
};

describe('enrollment over mutual TLS', () => {
  let gateway: RunningService;
  let signer: RunningService;
  let enroll: RunningService;
  let gatewayUrl: string;
  let adminKey: string;
  let url: string;
  let bootstrapId: string;
  let deviceCaId: string;
  /** The gateway's API over HTTP (it runs as its own built process, like the signer and enroll). */
  const call = (method: string, path: string, body?: object, key = adminKey) => apiCall(gatewayUrl, method, path, { body, key });
  const ok = async (pending: ReturnType<typeof call>, status: number) => {
    const res = await pending;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res;
  };
  const api = {
    post: (path: string, body: object) => call('POST', path, body),
    get: (path: string) => call('GET', path),
  };
  /** curl with the device's client certificate; returns the HTTP status and body. */
  const curl = (cert: string | null, path: string, args: string[] = []) => {
    const r = run('curl', ['-sS', '--max-time', '15', '--cacert', 'server-ca.pem', ...(cert ? ['--cert', `${cert}.pem`, '--key', `${cert}.key`] : []),
      '-w', '\n%{http_code}', ...args, `${url}${path}`]);
    const lines = r.stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n'), exit: r.status, out: r.out };
  };
  /** A managed certificate for a device from `caId`, written to name.pem / name.key. */
  const deviceCertificate = async (name: string, caId: string, commonName: string) => {
    const res = await ok(api.post('/api/v1/certificates', { caId, commonName, usage: 'client' }), 201);
    file(`${name}.pem`, res.body.certificate.certificatePem);
    file(`${name}.key`, res.body.privateKey);
    return res.body.certificate;
  };

  beforeAll(async () => {
    signer = await startSigner();
    ({ gateway, url: gatewayUrl } = await startGatewayProcess({ PLATFORM_ADMIN_KEY }));
    const org = await ok(call('POST', '/api/v1/platform/orgs', { name: 'Devices org', slug: `devices-${randomBytes(4).toString('hex')}` }, PLATFORM_ADMIN_KEY), 201);
    adminKey = org.body.adminKey;
    const ca = async (body: object) => (await ok(api.post('/api/v1/cas', body), 201)).body.ca;
    const serverCa = await ca({ name: 'Enroll server', subject: { commonName: 'Enroll Server CA' } });
    file('server-ca.pem', serverCa.certificatePem);
    const bootstrap = await ca({ name: 'Bootstrap', subject: { commonName: 'Factory Bootstrap CA' } });
    bootstrapId = bootstrap.id;
    file('bootstrap-ca.pem', bootstrap.certificatePem);
    const deviceCa = await ca({ name: 'Devices', subject: { commonName: 'Device Issuing CA' } });
    deviceCaId = deviceCa.id;
    file('device-ca.pem', deviceCa.certificatePem);
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Sensors', trustedCaIds: [bootstrapId], issuingCaId: deviceCaId, subjectRule: 'match-client-cn', allowedKeyAlgorithms: ['ECDSA-P256', 'ECDSA-P384'] }), 201);

    const healthPort = await freePort();
    const port = await freePort();
    enroll = spawnService('enroll', {
      ...testServiceEnv(), ENROLL_PORT: String(port), ENROLL_HEALTH_PORT: String(healthPort), ENROLL_TLS_CA_ID: serverCa.id,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '1000', ENROLL_BODY_LIMIT_BYTES: '8192', ENROLL_RATE_LIMIT: '6',
    });
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, enroll);
    url = `https://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && run('curl', ['-s', '-k', '--max-time', '1', url]).status === 7; i++) await sleep(100);
  }, 60_000);
  afterAll(async () => {
    if (gateway) expect(await stopService(gateway)).toBe(0);
    if (enroll) expect(await stopService(enroll)).toBe(0);
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('enrolls with curl --cert: the certificate verifies with openssl and carries the CSR subject; PEM answers too', async () => {
    await deviceCertificate('sensor-1', bootstrapId, 'sensor-1');
    newCsr('sensor-1-op', 'sensor-1');
    const res = curl('sensor-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@sensor-1-op.csr']);
    expect(res.status).toBe(201);
    const body = JSON.parse(res.body);
    expect(body.certificate).toMatchObject({ caId: deviceCaId, commonName: 'sensor-1', extendedKeyUsage: ['clientAuth'], mode: 'csr', status: 'active', hasStoredKey: false, revokedAt: null });
    // The same certificate object as the gateway's API answers.
    const { certificatePem: _pem, chainPem: _chain, ...viaApi } = (await ok(api.get(`/api/v1/certificates/${body.certificate.id}`), 200)).body.certificate;
    expect(body.certificate).toEqual(viaApi);
    file('sensor-1-op.pem', body.certificatePem);
    file('sensor-1-chain.pem', body.chainPem);
    expect(openssl('verify', '-CAfile', 'sensor-1-chain.pem', 'sensor-1-op.pem').out).toContain('sensor-1-op.pem: OK');
    expect(openssl('x509', '-in', 'sensor-1-op.pem', '-noout', '-subject').out).toContain('CN = sensor-1');

    // JSON {csrPem} in, PEM out.
    const csrPem = readFileSync(join(dir, 'sensor-1-op.csr'), 'utf8');
    file('json-body.json', JSON.stringify({ csrPem }));
    const pem = curl('sensor-1', '/v1/enroll', ['-H', 'Content-Type: application/json', '-H', 'Accept: application/x-pem-file', '--data-binary', '@json-body.json']);
    expect(pem.status).toBe(201);
    expect(pem.body.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    const audit = await ok(api.get(`/api/v1/audit?eventType=certificate.issue&resourceId=${body.certificate.id}`), 200);
    expect(audit.body.events[0].actor).toMatchObject({ type: 'device', name: 'sensor-1' });
  });

  it('fails the handshake without a client certificate and with one from an untrusted CA', async () => {
    const none = curl(null, '/v1/enroll', ['-d', 'x']);
    expect(none.exit).not.toBe(0);
    expect(none.status).toBe(0);
    const sClient = run('openssl', ['s_client', '-connect', url.replace('https://', ''), '-CAfile', join(dir, 'server-ca.pem'), '-quiet'], 'GET /v1/enroll HTTP/1.0\r\n\r\n');
    expect(sClient.stdout).not.toContain('HTTP/1.1');

    expect(openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.pem', '-subj', '/CN=sensor-1', '-days', '30').status).toBe(0);
    const rogue = curl('rogue', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@sensor-1-op.csr']);
    expect(rogue.exit).not.toBe(0);
    expect(rogue.status).toBe(0);
    const rogueSClient = run('openssl', ['s_client', '-connect', url.replace('https://', ''), '-CAfile', join(dir, 'server-ca.pem'), '-cert', join(dir, 'rogue.pem'), '-key', join(dir, 'rogue.key'), '-quiet'], 'GET /v1/enroll HTTP/1.0\r\n\r\n');
    expect(rogueSClient.stdout).not.toContain('HTTP/1.1');

    // Self-signed, expired, with an extension our parser refuses: OpenSSL reports only "expired" for it,
    // so it reaches our own check after the handshake, which must cut it without harm to the server.
    file('odd.cnf', `[ca]\ndefault_ca = x\n[x]\ndatabase = ${dir}/odd-index.txt\nnew_certs_dir = ${dir}\nserial = ${dir}/odd-serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n[odd]\n1.2.3.4 = DER:01\n`);
    file('odd-index.txt', '');
    file('odd-serial', '01\n');
    expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'odd.key', '-subj', '/CN=sensor-1', '-out', 'odd.csr').status).toBe(0);
    expect(openssl('ca', '-batch', '-config', 'odd.cnf', '-selfsign', '-keyfile', 'odd.key', '-in', 'odd.csr', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extensions', 'odd', '-notext', '-out', 'odd.pem').status).toBe(0);
    const odd = curl('odd', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@sensor-1-op.csr']);
    expect({ exit: odd.exit === 0, status: odd.status }).toEqual({ exit: false, status: 0 });
    expect(curl('sensor-1', '/nowhere').status).toBe(404);
  });

  it('answers 403 for a revoked bootstrap certificate, a CN mismatch and an expired certificate, each audited', async () => {
    const revoked = await deviceCertificate('revoked', bootstrapId, 'sensor-r');
    await ok(api.post(`/api/v1/certificates/${revoked.id}/revoke`, { reason: 'keyCompromise' }), 200);
    newCsr('sensor-r', 'sensor-r');
    const r1 = curl('revoked', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@sensor-r.csr']);
    expect(r1.status).toBe(403);
    expect(JSON.parse(r1.body)).toMatchObject({ code: 'client_certificate_revoked', status: 403, requestId: expect.any(String) });

    await deviceCertificate('sensor-2', bootstrapId, 'sensor-2');
    newCsr('impostor', 'sensor-99');
    const r2 = curl('sensor-2', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@impostor.csr']);
    expect(r2.status).toBe(403);
    expect(JSON.parse(r2.body).code).toBe('forbidden');

    // An expired certificate from a trusted (imported) CA: OpenSSL lets it through to get its 403.
    const keys = await generateKeyPair('ECDSA-P256');
    const now = Date.now();
    const importedRoot = buildCertificateSync({ kind: 'root', subject: { commonName: 'Old Factory CA' }, publicKey: keys.publicKey, selfSignKey: keys.privateKey, notBefore: new Date(now - 400 * 86_400_000), notAfter: new Date(now + 3650 * 86_400_000) });
    const imported = (await ok(api.post('/api/v1/cas/import', { name: 'Old factory', certificatePem: toPem('CERTIFICATE', importedRoot.der), privateKeyPem: exportPrivateKeyPem(keys.privateKey) }), 201)).body.ca;
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Old devices', trustedCaIds: [imported.id], issuingCaId: deviceCaId, subjectRule: 'any' }), 201);
    const deviceKeys = await generateKeyPair('ECDSA-P256');
    const expired = buildCertificateSync({ kind: 'leaf', subject: { commonName: 'old-device' }, publicKey: deviceKeys.publicKey, issuer: issuerOf(importedRoot.der, keys.privateKey), notBefore: new Date(now - 300 * 86_400_000), notAfter: new Date(now - 86_400_000), extendedKeyUsage: ['clientAuth'] });
    file('old.pem', toPem('CERTIFICATE', expired.der));
    file('old.key', exportPrivateKeyPem(deviceKeys.privateKey));
    newCsr('old-op', 'old-device');
    let r3 = curl('old', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@old-op.csr']);
    for (let i = 0; i < 50 && r3.status !== 403; i++) {
      await sleep(200);
      r3 = curl('old', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@old-op.csr']);
    }
    expect(r3.status).toBe(403);
    expect(JSON.parse(r3.body).code).toBe('client_certificate_expired');

    const audit = await ok(api.get('/api/v1/audit?eventType=enroll.refused'), 200);
    const codes = audit.body.events.map((e: { error: { code: string } }) => e.error.code);
    expect(codes).toEqual(expect.arrayContaining(['client_certificate_revoked', 'forbidden', 'client_certificate_expired']));
    expect(audit.body.events.every((e: { actor: { type: string } }) => e.actor.type === 'device')).toBe(true);
  });

  it('refuses a bootstrap certificate right after its revoke call returns, though it enrolled a moment before', async () => {
    const device = await deviceCertificate('flipped', bootstrapId, 'sensor-f');
    newCsr('sensor-f', 'sensor-f');
    const enroll = () => curl('flipped', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@sensor-f.csr']);
    // Twice, so whatever the server keeps about this certificate (parsed form, issuing CA) is warm.
    expect(enroll().status).toBe(201);
    expect(enroll().status).toBe(201);
    await ok(api.post(`/api/v1/certificates/${device.id}/revoke`, { reason: 'keyCompromise' }), 200);
    const refused = enroll();
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'client_certificate_revoked', status: 403 });
    const audit = await ok(api.get('/api/v1/audit?eventType=enroll.refused'), 200);
    expect(audit.body.events).toEqual(expect.arrayContaining([
      expect.objectContaining({ actor: expect.objectContaining({ type: 'device', name: 'sensor-f' }), error: expect.objectContaining({ code: 'client_certificate_revoked' }) }),
    ]));
  });

  it('counts enrollments per client certificate and minute, concurrent ones included', async () => {
    // ENROLL_RATE_LIMIT is 6 for this server: of 8 enrollments sent at once, 6 pass and 2 get 429.
    await deviceCertificate('busy', bootstrapId, 'busy-device');
    newCsr('busy-csr', 'busy-device');
    // The counter is per minute: keep the burst away from a minute's end.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5000) await sleep(left + 200);
    const statuses = await Promise.all(Array.from({ length: 8 }, () => new Promise<number>((resolve) => {
      const child = spawn('curl', ['-sS', '--max-time', '15', '--cacert', 'server-ca.pem', '--cert', 'busy.pem', '--key', 'busy.key', '-o', '/dev/null', '-w', '%{http_code}',
        '-H', 'Content-Type: application/pkcs10', '--data-binary', '@busy-csr.csr', `${url}/v1/enroll`], { cwd: dir });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.on('close', () => resolve(Number(out)));
    })));
    expect(statuses.sort()).toEqual([201, 201, 201, 201, 201, 201, 429, 429]);
  });

  it('speaks EST: cacerts, simpleenroll and simplereenroll answer base64 PKCS#7 that openssl reads; re-enrollment keeps the subject', async () => {
    await deviceCertificate('est', bootstrapId, 'est-device');
    newCsr('est-csr', 'est-device');
    const der = openssl('req', '-in', 'est-csr.csr', '-outform', 'DER', '-out', 'est.csr.der');
    expect(der.status).toBe(0);
    file('est.csr.b64', readFileSync(join(dir, 'est.csr.der')).toString('base64'));
    const enrolled = curl('est', '/.well-known/est/simpleenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@est.csr.b64', '-D', join(dir, 'est.headers')]);
    expect(enrolled.status).toBe(200);
    expect(readFileSync(join(dir, 'est.headers'), 'utf8')).toMatch(/content-type: application\/pkcs7-mime; smime-type=certs-only/i);
    file('est.p7.b64', enrolled.body);
    const printed = run('sh', ['-c', 'openssl base64 -d -in est.p7.b64 | openssl pkcs7 -inform DER -print_certs']);
    expect(printed.out).toMatch(/subject=CN ?= ?est-device/);
    const pems = printed.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    file('est-op.pem', pems[0]);
    expect(openssl('verify', '-CAfile', 'device-ca.pem', 'est-op.pem').out).toContain('est-op.pem: OK');

    const cacerts = curl('est', '/.well-known/est/cacerts');
    expect(cacerts.status).toBe(200);
    file('cacerts.b64', cacerts.body);
    expect(run('sh', ['-c', 'openssl base64 -d -in cacerts.b64 | openssl pkcs7 -inform DER -print_certs']).out).toContain('Device Issuing CA');

    // Re-enroll with the operational certificate: the subject must stay (RFC 7030 4.2.2); another is refused.
    writeFileSync(join(dir, 'est-op.key'), readFileSync(join(dir, 'est-csr.key')));
    newCsr('est-other', 'something-else');
    expect(openssl('req', '-in', 'est-other.csr', '-outform', 'DER', '-out', 'est-other.der').status).toBe(0);
    file('est-other.b64', readFileSync(join(dir, 'est-other.der')).toString('base64'));
    const other = curl('est-op', '/.well-known/est/simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@est-other.b64']);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body).details.fields).toEqual([expect.objectContaining({ field: 'subject.commonName' })]);
    newCsr('est-again', 'est-device');
    expect(openssl('req', '-in', 'est-again.csr', '-outform', 'DER', '-out', 'est-again.der').status).toBe(0);
    file('est-again.b64', readFileSync(join(dir, 'est-again.der')).toString('base64'));
    const again = curl('est-op', '/.well-known/est/simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@est-again.b64']);
    expect(again.status).toBe(200);
    file('again.p7.b64', again.body);
    expect(run('sh', ['-c', 'openssl base64 -d -in again.p7.b64 | openssl pkcs7 -inform DER -print_certs']).out).toMatch(/subject=CN ?= ?est-device/);
    // simplereenroll with a bootstrap certificate is refused.
    expect(curl('est', '/.well-known/est/simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@est.csr.b64']).status).toBe(403);
  });

  it('issues no more identity than the client certificate holds: other subject attributes and SANs are 403 with the fields named (issue 18, finding 1)', async () => {
    await deviceCertificate('device-1', bootstrapId, 'device-1');
    const wide = (name: string, subject: string, sans: string) => {
      expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
        '-subj', subject, '-addext', `subjectAltName=${sans}`).status).toBe(0);
      return `${name}.csr`;
    };
    const csrWide = wide('device-1-wide', '/CN=device-1/O=Other Org/OU=Admins', 'DNS:admin.a.test,DNS:device-2.a.test,URI:spiffe://a.test/admin,email:ceo@a.test,IP:10.0.0.1');
    const refused = curl('device-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csrWide}`]);
    expect(refused.status).toBe(403);
    const body = JSON.parse(refused.body);
    expect(body).toMatchObject({ code: 'forbidden', status: 403 });
    expect(body.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['sanDns', 'sanEmail', 'sanIp', 'sanUri', 'subject.organization', 'subject.organizationalUnit']);
    // One widening at a time is refused too (a single SAN, a single attribute).
    expect(curl('device-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${wide('device-1-san', '/CN=device-1', 'DNS:device-2.a.test')}`]).status).toBe(403);
    expect(curl('device-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${wide('device-1-o', '/CN=device-1/O=Other Org', 'DNS:device-1')}`]).status).toBe(403);
    // Its own name: issued, and the certificate carries exactly that (judged by openssl).
    const own = curl('device-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '-H', 'Accept: application/x-pem-file', '--data-binary', `@${wide('device-1-own', '/CN=device-1', 'DNS:device-1')}`]);
    expect(own.status).toBe(201);
    file('device-1-op.pem', own.body);
    const text = openssl('x509', '-in', 'device-1-op.pem', '-noout', '-subject', '-ext', 'subjectAltName').out;
    expect(text).toMatch(/subject=CN ?= ?device-1\n/);
    expect(text).toMatch(/DNS:device-1\s*$/);
    const audit = await ok(api.get('/api/v1/audit?eventType=enroll.refused&limit=10'), 200);
    expect(audit.body.events.some((e: { error: { fields?: { field: string }[] } }) => e.error?.fields?.some((f) => f.field === 'sanUri'))).toBe(true);

    // Re-enrollment with that certificate keeps its SANs and takes no new ones.
    writeFileSync(join(dir, 'device-1-op.key'), readFileSync(join(dir, 'device-1-own.key')));
    const toEst = (csr: string) => {
      expect(openssl('req', '-in', csr, '-outform', 'DER', '-out', `${csr}.der`).status).toBe(0);
      return file(`${csr}.b64`, readFileSync(join(dir, `${csr}.der`)).toString('base64'));
    };
    const more = curl('device-1-op', '/.well-known/est/simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${toEst(wide('device-1-more', '/CN=device-1', 'DNS:device-1,DNS:admin.a.test'))}`]);
    expect(more.status).toBe(403);
    expect(JSON.parse(more.body).details.fields).toEqual([expect.objectContaining({ field: 'sanDns' })]);
    const renewed = curl('device-1-op', '/.well-known/est/simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${toEst(newCsr('device-1-plain', 'device-1'))}`]);
    expect(renewed.status).toBe(200);
    file('device-1-renewed.p7.b64', renewed.body);
    const printed = run('sh', ['-c', 'openssl base64 -d -in device-1-renewed.p7.b64 | openssl pkcs7 -inform DER -print_certs -text']).out;
    expect(printed).toMatch(/Subject: ?CN ?= ?device-1\n/);
    expect(printed).toMatch(/DNS:device-1\s/);
    expect(printed).not.toContain('admin.a.test');
  });

  it("keeps one org from cutting off another's devices with a copy of its CA's name and key identifier (issue 18, finding 3)", async () => {
    const orgB = await ok(call('POST', '/api/v1/platform/orgs', { name: 'Org B', slug: `org-b-${randomBytes(4).toString('hex')}` }, PLATFORM_ADMIN_KEY), 201);
    const keyB: string = orgB.body.adminKey;
    // A self-made CA with the subject and key identifier of org A's bootstrap CA (both public), another key.
    const ski = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(openssl('x509', '-in', 'bootstrap-ca.pem', '-noout', '-ext', 'subjectKeyIdentifier').out)![1];
    expect(openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'twin-ca.key', '-out', 'twin-ca.pem', '-days', '30',
      '-subj', '/CN=Factory Bootstrap CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', `subjectKeyIdentifier=${ski}`).status).toBe(0);
    const twinPem = readFileSync(join(dir, 'twin-ca.pem'), 'utf8');
    const imported = await call('POST', '/api/v1/cas/import', { name: 'Twin', certificatePem: twinPem, privateKeyPem: readFileSync(join(dir, 'twin-ca.key'), 'utf8') }, keyB);
    expect(imported.status).toBe(409);
    expect(imported.body).toMatchObject({ code: 'conflict', details: { fields: [expect.objectContaining({ field: 'certificatePem' })] } });
    // As a chain link above another CA it is refused too.
    expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'twin-sub.key', '-out', 'twin-sub.csr', '-subj', '/CN=Twin Sub CA').status).toBe(0);
    file('twin-sub.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    expect(openssl('x509', '-req', '-in', 'twin-sub.csr', '-CA', 'twin-ca.pem', '-CAkey', 'twin-ca.key', '-CAcreateserial', '-days', '20', '-extfile', 'twin-sub.ext', '-out', 'twin-sub.pem').status).toBe(0);
    const viaChain = await call('POST', '/api/v1/cas/import', {
      name: 'Twin sub', certificatePem: readFileSync(join(dir, 'twin-sub.pem'), 'utf8'), privateKeyPem: readFileSync(join(dir, 'twin-sub.key'), 'utf8'), chainPem: twinPem,
    }, keyB);
    expect(viaChain.status).toBe(409);
    expect(viaChain.body.details.fields[0].field).toBe('chainPem');

    // A row from before that check (written here directly), named by an org B policy: org A's devices
    // still enroll, since the CA that was there first keeps its place in the TLS trust store.
    const twin = parseCertificate(twinPem);
    const db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const twinId = randomUUID();
    try {
      await db.query(
        `INSERT INTO cas (id, org_id, name, type, depth, subject, common_name, key_algorithm, serial_number, fingerprint_sha256, key_hash_sha1, certificate_der, encrypted_key, imported, valid_from, valid_to)
         VALUES ($1, $2, 'Twin (legacy row)', 'root', 0, '{"commonName":"Factory Bootstrap CA"}', 'Factory Bootstrap CA', 'ECDSA-P256', $3, $4, $5, $6, '\\x00', true, $7, $8)`,
        [twinId, orgB.body.org.id, twin.serialNumber, twin.fingerprintSha256, randomBytes(20), twin.der, twin.notBefore, twin.notAfter],
      );
      // As a revocation's CRL number bump does: org A's row moves behind the twin in the heap, so an
      // unguarded trust store (which kept the order it read the rows in) would hand OpenSSL the twin first.
      await db.query('UPDATE cas SET last_crl_number = last_crl_number WHERE id = $1', [bootstrapId]);
    } finally {
      await db.end();
    }
    const issuingB = (await ok(call('POST', '/api/v1/cas', { name: 'B devices', subject: { commonName: 'B Device CA' } }, keyB), 201)).body.ca;
    await ok(call('POST', '/api/v1/enrollment-policies', { name: 'B', trustedCaIds: [twinId], issuingCaId: issuingB.id, subjectRule: 'any' }, keyB), 201);
    await sleep(2500); // the trust store re-reads within ENROLL_TRUST_POLL_MS (1 s here)
    for (const n of [1, 2, 3]) {
      await deviceCertificate(`victim-${n}`, bootstrapId, `victim-${n}`);
      const res = curl(`victim-${n}`, '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${newCsr(`victim-${n}-op`, `victim-${n}`)}`]);
      expect(res.status).toBe(201);
    }
  });

  it("issues under the policy's profile: its validity and usage, and its profileId on the certificate", async () => {
    const boot = (await ok(api.post('/api/v1/cas', { name: 'Profiled boot', subject: { commonName: 'Profiled Bootstrap CA' } }), 201)).body.ca;
    const profile = (await ok(api.post('/api/v1/profiles', {
      name: 'Meters', slug: `meters-${randomBytes(3).toString('hex')}`, caId: deviceCaId, defaultValidityDays: 10, maxValidityDays: 20, usage: 'server-client', environment: 'field',
    }), 201)).body.profile;
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Profiled', trustedCaIds: [boot.id], issuingCaId: deviceCaId, profileId: profile.id, subjectRule: 'match-client-cn' }), 201);
    await deviceCertificate('profiled', boot.id, 'meter-77');
    newCsr('profiled-op', 'meter-77');
    const send = () => curl('profiled', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@profiled-op.csr']);
    let res = send();
    for (let i = 0; i < 50 && res.status === 0; i++) {
      await sleep(200);
      res = send();
    }
    expect(res.status).toBe(201);
    const body = JSON.parse(res.body);
    expect(body.certificate).toMatchObject({ profileId: profile.id, environment: 'field', usage: 'server-client', extendedKeyUsage: ['serverAuth', 'clientAuth'] });
    expect(Math.round((Date.parse(body.certificate.validTo) - Date.parse(body.certificate.validFrom)) / 86_400_000)).toBe(10);
    file('profiled-op.pem', body.certificatePem);
    expect(openssl('x509', '-in', 'profiled-op.pem', '-noout', '-ext', 'extendedKeyUsage').out).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  it('honours a policy created while the server runs, within seconds, without a restart', async () => {
    const newCa = (await ok(api.post('/api/v1/cas', { name: 'Late', subject: { commonName: 'Late Bootstrap CA' } }), 201)).body.ca;
    await deviceCertificate('late', newCa.id, 'late-device');
    newCsr('late-csr', 'late-device');
    const attempt = () => curl('late', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@late-csr.csr']);
    expect(attempt().status).toBe(0);
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Late', trustedCaIds: [newCa.id], issuingCaId: deviceCaId, subjectRule: 'match-client-cn' }), 201);
    const started = Date.now();
    let res = attempt();
    while (res.status !== 201 && Date.now() - started < 10_000) {
      await sleep(200);
      res = attempt();
    }
    expect(res.status).toBe(201);
  });

  it('trusts only the CAs policies name: not the CAs above them, and an issuing CA only for what enrollment issued', async () => {
    const root = (await ok(api.post('/api/v1/cas', { name: 'Vendor root', subject: { commonName: 'Vendor Root' } }), 201)).body.ca;
    const line = (await ok(api.post('/api/v1/cas', { name: 'Line 7', subject: { commonName: 'Line 7 Bootstrap CA' }, parentCaId: root.id }), 201)).body.ca;
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Line 7', trustedCaIds: [line.id], issuingCaId: deviceCaId, subjectRule: 'match-client-cn' }), 201);
    await deviceCertificate('line-7', line.id, 'line-device');
    newCsr('line-7-op', 'line-device');
    const fromLine = () => curl('line-7', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@line-7-op.csr']);
    let res = fromLine();
    for (let i = 0; i < 50 && res.status !== 201; i++) {
      await sleep(200);
      res = fromLine();
    }
    expect(res.status).toBe(201);
    // The root is in the TLS context only to complete Line 7's chain: what it signs itself is cut.
    await deviceCertificate('root-signed', root.id, 'line-device');
    const rootSigned = curl('root-signed', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@line-7-op.csr']);
    expect({ exit: rootSigned.exit === 0, status: rootSigned.status }).toEqual({ exit: false, status: 0 });
    // The devices' issuing CA admits only what enrollment issued (re-enrollment), not a leaf made through the API.
    await deviceCertificate('api-made', deviceCaId, 'line-device');
    const apiMade = curl('api-made', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@line-7-op.csr']);
    expect(apiMade.status).toBe(403);
    expect(JSON.parse(apiMade.body)).toMatchObject({ code: 'forbidden', status: 403 });
  });

  it('with one CA trusted and issuing, its bootstrap certificates follow subjectRule; only enrolled ones re-enroll', async () => {
    const self = (await ok(api.post('/api/v1/cas', { name: 'Self', subject: { commonName: 'Self-Serve CA' } }), 201)).body.ca;
    file('self-ca.pem', self.certificatePem);
    await ok(api.post('/api/v1/enrollment-policies', { name: 'Self', trustedCaIds: [self.id], issuingCaId: self.id, subjectRule: 'match-client-cn' }), 201);
    await deviceCertificate('self-boot', self.id, 'meter-1');
    newCsr('meter-other', 'meter-2');
    const mismatch = () => curl('self-boot', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@meter-other.csr']);
    let res = mismatch();
    for (let i = 0; i < 50 && res.status === 0; i++) {
      await sleep(200);
      res = mismatch();
    }
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).code).toBe('forbidden');
    newCsr('meter-1', 'meter-1');
    const enrolled = curl('self-boot', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@meter-1.csr']);
    expect(enrolled.status).toBe(201);
    file('meter-1-op.pem', JSON.parse(enrolled.body).certificatePem);
    writeFileSync(join(dir, 'meter-1-op.key'), readFileSync(join(dir, 'meter-1.key')));
    // The operational certificate re-enrolls under its own subject only.
    expect(curl('meter-1-op', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@meter-other.csr']).status).toBe(403);
    newCsr('meter-1-again', 'meter-1');
    const again = curl('meter-1-op', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '-H', 'Accept: application/x-pem-file', '--data-binary', '@meter-1-again.csr']);
    expect(again.status).toBe(201);
    file('meter-again.pem', again.body);
    expect(openssl('x509', '-in', 'meter-again.pem', '-noout', '-subject').out).toContain('CN = meter-1');
  });

  it('refuses garbage CSRs, wrong media types, disallowed keys and oversized bodies with clear errors', async () => {
    await deviceCertificate('tester', bootstrapId, 'tester');
    file('garbage.pem', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    const garbage = curl('tester', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@garbage.pem']);
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body)).toMatchObject({ code: 'validation_failed', error: expect.any(String) });
    expect(curl('tester', '/v1/enroll', ['-H', 'Content-Type: text/plain', '--data-binary', '@garbage.pem']).status).toBe(415);
    file('big.bin', Buffer.alloc(100_000, 0x41));
    expect(curl('tester', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@big.bin']).status).toBe(413);
    expect(openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.csr', '-subj', '/CN=tester').status).toBe(0);
    const rsa = curl('tester', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@rsa.csr']);
    expect(rsa.status).toBe(422);
    expect(JSON.parse(rsa.body).code).toBe('policy_violation');
    expect(curl('tester', '/nowhere').status).toBe(404);
    // A method a path does not take is a route that does not exist (API.md has no 405 code).
    expect(JSON.parse(curl('tester', '/v1/enroll').body)).toMatchObject({ code: 'not_found', status: 404 });
    newCsr('tester-json', 'tester');
    file('extra.json', JSON.stringify({ csrPem: readFileSync(join(dir, 'tester-json.csr'), 'utf8'), validityDays: 9999 }));
    const extra = curl('tester', '/v1/enroll', ['-H', 'Content-Type: application/json', '--data-binary', '@extra.json']);
    expect(extra.status).toBe(400);
    expect(JSON.parse(extra.body)).toMatchObject({ code: 'validation_failed', error: expect.stringContaining('validityDays') });
  });
});
