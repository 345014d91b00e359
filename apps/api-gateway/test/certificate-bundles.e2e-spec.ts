/**
 * POST /api/v1/certificates/validate (API.md section 8) through the gateway, judged on bundles made by
 * the tools people make them with: openssl (PEM; PKCS#12 modern AES and -legacy 3DES/RC2) and Java's
 * keytool (PKCS#12). Each finding, unreadable input named by field, never a 500, nothing stored. And the
 * other way: stored keys downloaded as PKCS#12 (modern and legacy) that openssl, GnuTLS's certtool and keytool open.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { Client } from 'pg';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningService, stopService } from '@signet/testing';
import { createKey, createOrg, expectErrorShape, startGateway, startSigner, withKey } from './support';

describe('certificates from elsewhere: validate', () => {
  let gateway: NestFastifyApplication;
  let adminKey: string;
  const dir = mkdtempSync(join(tmpdir(), 'signet-bundles-'));
  const run = (tool: string, ...args: string[]) => {
    const done = spawnSync(tool, args, { cwd: dir, encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`${tool} ${args.join(' ')}: ${done.stderr}`);
  };
  const openssl = (...args: string[]) => run('openssl', ...args);
  const text = (name: string) => readFileSync(join(dir, name), 'utf8');
  const base64 = (name: string) => readFileSync(join(dir, name)).toString('base64');
  const validate = (body: object) => withKey(gateway.getHttpServer(), adminKey).post('/api/v1/certificates/validate', body);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  beforeAll(async () => {
    gateway = await startGateway();
    adminKey = (await createOrg(gateway, 'Bundles')).adminKey;
    // Another CA's root, intermediate and a leaf for two names, as that CA would make them.
    writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:www.elsewhere.test,DNS:*.apps.elsewhere.test\nextendedKeyUsage=serverAuth\n');
    openssl('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/CN=Elsewhere Root', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Elsewhere Intermediate');
    openssl('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-out', 'int.pem', '-days', '1825', '-extfile', 'ca.ext');
    openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=www.elsewhere.test');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'int.pem', '-CAkey', 'int.key', '-out', 'leaf.pem', '-days', '90', '-extfile', 'leaf.ext');
    writeFileSync(join(dir, 'chain.pem'), text('int.pem') + text('root.pem'));
    openssl('pkcs12', '-export', '-in', 'leaf.pem', '-inkey', 'leaf.key', '-certfile', 'chain.pem', '-out', 'modern.p12', '-passout', 'pass:pw');
    openssl('pkcs12', '-export', '-legacy', '-in', 'leaf.pem', '-inkey', 'leaf.key', '-certfile', 'chain.pem', '-out', 'legacy.p12', '-passout', 'pass:pw');
  });
  afterAll(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('judges a good PEM bundle and finds what is wrong with bad ones', async () => {
    const good = await validate({ certificatePem: text('leaf.pem'), chainPem: text('chain.pem'), privateKeyPem: text('leaf.key'), domain: 'x.apps.elsewhere.test' }).expect(200);
    expect(good.body).toEqual(expect.objectContaining({
      valid: true, commonName: 'www.elsewhere.test', sanDns: ['www.elsewhere.test', '*.apps.elsewhere.test'], issuer: expect.stringContaining('Elsewhere Intermediate'),
      keyAlgorithm: 'ECDSA-P256', keyMatches: true, chainComplete: true, coversDomain: true, errors: [], warnings: [], daysRemaining: expect.any(Number),
    }));
    const wrongOrder = await validate({ certificatePem: text('leaf.pem'), chainPem: text('root.pem') + text('int.pem') }).expect(200);
    expect([wrongOrder.body.valid, wrongOrder.body.errors.map((e: { code: string }) => e.code)]).toEqual([false, ['chain_order']]);
    const otherKey = await validate({ certificatePem: text('leaf.pem'), privateKeyPem: text('int.key'), domain: 'elsewhere.test' }).expect(200);
    expect(otherKey.body.errors.map((e: { code: string }) => e.code).sort()).toEqual(['domain_not_covered', 'key_mismatch']);
    expect(otherKey.body.warnings.map((e: { code: string }) => e.code)).toEqual(['chain_missing']);
  });

  it.each([['modern.p12'], ['legacy.p12']])('opens %s made by openssl', async (file) => {
    const res = await validate({ pfxBase64: base64(file), pfxPassword: 'pw', domain: 'www.elsewhere.test' }).expect(200);
    expect(res.body).toEqual(expect.objectContaining({ valid: true, commonName: 'www.elsewhere.test', keyMatches: true, chainComplete: true, coversDomain: true }));
  });

  it("opens a PKCS#12 keystore made by Java's keytool", async () => {
    run('keytool', '-genkeypair', '-storetype', 'PKCS12', '-keystore', 'java.p12', '-storepass', 'changeit', '-alias', 'web', '-keyalg', 'EC', '-groupname', 'secp256r1',
      '-dname', 'CN=java.elsewhere.test', '-ext', 'san=dns:java.elsewhere.test', '-validity', '100');
    const res = await validate({ pfxBase64: base64('java.p12'), pfxPassword: 'changeit', domain: 'java.elsewhere.test' }).expect(200);
    expect(res.body).toEqual(expect.objectContaining({ valid: true, commonName: 'java.elsewhere.test', keyMatches: true, coversDomain: true, chainComplete: true }));
  });

  it('names the field it cannot read: garbage PEM, a wrong PKCS#12 password, not base64, nothing given; never a 500', async () => {
    const field = async (body: object) => {
      const res = await validate(body);
      expectErrorShape(res.body, 'validation_failed', 400);
      return res.body.details.fields.map((f: { field: string }) => f.field);
    };
    expect(await field({ certificatePem: 'garbage' })).toEqual(['certificatePem']);
    expect(await field({ certificatePem: text('leaf.pem'), chainPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' })).toEqual(['chainPem']);
    expect(await field({ certificatePem: text('leaf.pem'), privateKeyPem: 'not a key' })).toEqual(['privateKeyPem']);
    expect(await field({ pfxBase64: base64('modern.p12'), pfxPassword: 'wrong' })).toEqual(['pfxPassword']);
    expect(await field({ pfxBase64: base64('legacy.p12'), pfxPassword: 'wrong' })).toEqual(['pfxPassword']);
    expect(await field({ pfxBase64: '%%%' })).toEqual(['pfxBase64']);
    expect(await field({ pfxBase64: Buffer.from('not a pfx').toString('base64') })).toEqual(['pfxBase64']);
    expect(await field({})).toEqual(['certificatePem']);
    expect(await field({ certificatePem: 42 })).toEqual(['certificatePem']);
  });
});

describe('certificates as PKCS#12 downloads, read by openssl, GnuTLS and keytool', () => {
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let adminKey: string;
  let memberKey: string;
  let certificate: { id: string; serialNumber: string };
  const dir = mkdtempSync(join(tmpdir(), 'signet-p12-'));
  const tool = (name: string, ...args: string[]) => spawnSync(name, args, { cwd: dir, encoding: 'utf8' });
  const api = (key = adminKey) => withKey(gateway.getHttpServer(), key);

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    const org = await createOrg(gateway, 'P12');
    adminKey = org.adminKey;
    const caId = (await api().post('/api/v1/cas', { name: 'P12 root', subject: { commonName: 'P12 Root' } }).expect(201)).body.ca.id;
    certificate = (await api().post('/api/v1/certificates', { caId, commonName: 'p12.example.test', storeKey: true }).expect(201)).body.certificate;
    memberKey = (await createKey(gateway, adminKey, { name: 'reader', role: 'member', permissions: { [caId]: { read: true } } })).key;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  const fetchP12 = async (how: 'get' | 'post', legacy: boolean, password: string) => {
    const res = how === 'get'
      ? await api().get(`/api/v1/certificates/${certificate.id}/download?format=p12&password=${encodeURIComponent(password)}&legacy=${legacy}`).buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      })
      : await api().post(`/api/v1/certificates/${certificate.id}/download`, { format: 'p12', password, legacy }).buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-pkcs12/);
    expect(res.headers['content-disposition']).toContain('p12.example.test.p12');
    return res.body as Buffer;
  };

  it.each([['get', false], ['post', true]] as const)('over %s, legacy=%s: openssl, certtool and keytool open it with the password', async (how, legacy) => {
    const file = `${how}-${legacy}.p12`;
    // ASCII: Java's keystore refuses non-ASCII passwords (libs/pki's spec covers those with openssl).
    writeFileSync(join(dir, file), await fetchP12(how, legacy, 'p12 s3cret'));
    const info = tool('openssl', 'pkcs12', '-info', '-in', file, '-passin', 'pass:p12 s3cret', '-nodes');
    expect(info.status).toBe(0);
    expect(info.stdout).toContain('BEGIN PRIVATE KEY');
    expect(info.stderr).toContain(legacy ? 'MAC: sha1' : 'MAC: sha256');
    const gnutls = tool('certtool', '--p12-info', '--inder', '--infile', file, '--password', 'p12 s3cret');
    expect([gnutls.status, gnutls.stdout]).toEqual([0, expect.stringMatching(legacy ? /PKCS #8 Encrypted key[\s\S]*3DES/ : /PKCS #8 Encrypted key[\s\S]*AES-256-CBC/)]);
    expect(tool('certtool', '--p12-info', '--inder', '--infile', file, '--password', 'wrong').status).not.toBe(0);
    const keytool = tool('keytool', '-list', '-v', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'p12 s3cret');
    expect([keytool.status, keytool.stdout]).toEqual([0, expect.stringMatching(/PrivateKeyEntry[\s\S]*CN=p12\.example\.test/)]);
    expect(tool('openssl', 'pkcs12', '-info', '-in', file, '-passin', 'pass:wrong', '-nodes').status).not.toBe(0);
  });

  it('needs a password and the issue permission; a certificate without a stored key has no p12', async () => {
    const noPassword = await api().get(`/api/v1/certificates/${certificate.id}/download?format=p12`);
    expectErrorShape(noPassword.body, 'validation_failed', 400);
    expect(noPassword.body.details.fields[0].field).toBe('password');
    expectErrorShape((await api(memberKey).post(`/api/v1/certificates/${certificate.id}/download`, { format: 'p12', password: 'x' })).body, 'forbidden', 403);
    expectErrorShape((await api().post(`/api/v1/certificates/${certificate.id}/download`, { format: 'p12', password: 'x', legacy: 'maybe' })).body, 'validation_failed', 400);
  });
});

describe('certificates from elsewhere: import into the inventory', () => {
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let adminKey: string;
  let memberKey: string;
  let signetId: string;
  let db: Client;
  const dir = mkdtempSync(join(tmpdir(), 'signet-import-'));
  const openssl = (...args: string[]) => {
    const done = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${done.stderr}`);
  };
  const text = (name: string) => readFileSync(join(dir, name), 'utf8');
  const api = (key = adminKey) => withKey(gateway.getHttpServer(), key);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const org = await createOrg(gateway, 'Importer');
    adminKey = org.adminKey;
    const caId = (await api().post('/api/v1/cas', { name: 'Own root', subject: { commonName: 'Own Root' } }).expect(201)).body.ca.id;
    signetId = (await api().post('/api/v1/certificates', { caId, commonName: 'own.example.test' }).expect(201)).body.certificate.id;
    memberKey = (await createKey(gateway, adminKey, { name: 'member', role: 'member', permissions: { [caId]: { read: true, issue: true, revoke: true } } })).key;
    writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:shop.partner.test,DNS:www.shop.partner.test\nextendedKeyUsage=serverAuth\n');
    openssl('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/O=Partner CA Inc/CN=Partner Root', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=shop.partner.test');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-out', 'leaf.pem', '-days', '20', '-extfile', 'leaf.ext');
    openssl('pkcs12', '-export', '-legacy', '-in', 'leaf.pem', '-inkey', 'leaf.key', '-certfile', 'root.pem', '-out', 'leaf.p12', '-passout', 'pass:pw');
  });
  afterAll(async () => {
    await db.end();
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a certificate with its chain and key: in list, search by issuer, stats, downloads; the key encrypted at rest', async () => {
    const imported = await api().post('/api/v1/certificates/import', { certificatePem: text('leaf.pem'), chainPem: text('root.pem'), privateKeyPem: text('leaf.key'), notes: 'partner shop' }).expect(201);
    const certificate = imported.body.certificate;
    expect(certificate).toEqual(expect.objectContaining({
      source: 'imported', caId: null, issuer: expect.stringContaining('Partner Root'), commonName: 'shop.partner.test', sanDns: ['shop.partner.test', 'www.shop.partner.test'],
      keyAlgorithm: 'ECDSA-P256', hasStoredKey: true, extendedKeyUsage: ['serverAuth'], expiringSoon: true, chainPem: text('root.pem'),
      renewal: { status: 'none', lastAttemptAt: null, lastError: null, nextAttemptAt: null },
    }));
    expect(imported.body.warnings.map((w: { code: string }) => w.code)).toEqual(['expiring']);
    // At rest: the MASTER_KEY blob of key-encryption.ts, never the PEM or the DER of the key.
    const stored = (await db.query('SELECT encrypted_key FROM certificates WHERE id = $1', [certificate.id])).rows[0].encrypted_key as Buffer;
    expect(stored[0]).toBe(1);
    expect(stored.toString('latin1')).not.toContain('PRIVATE KEY');

    const listed = (await api().get('/api/v1/certificates?source=imported').expect(200)).body;
    expect(listed.certificates.map((c: { id: string }) => c.id)).toEqual([certificate.id]);
    expect((await api().get('/api/v1/certificates?search=partner%20ca%20inc').expect(200)).body.certificates.map((c: { id: string }) => c.id)).toEqual([certificate.id]);
    const stats = (await api().get('/api/v1/certificates/stats').expect(200)).body;
    expect(Object.keys(stats.byCa)).toHaveLength(1);
    expect(Object.entries(stats.byIssuer)).toContainEqual([certificate.issuer, 1]);
    const key = (await api().get(`/api/v1/certificates/${certificate.id}/download?format=key`).expect(200)).text;
    expect(createPrivateKey(key).export({ type: 'pkcs8', format: 'der' })).toEqual(createPrivateKey(text('leaf.key')).export({ type: 'pkcs8', format: 'der' }));
    expect((await api().get(`/api/v1/certificates/${certificate.id}/download?format=fullchain`).expect(200)).text.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    // A member's per-CA grants do not reach certificates no CA of the platform issued.
    expect((await api(memberKey).get('/api/v1/certificates?source=imported').expect(200)).body.total).toBe(0);
    await api(memberKey).get(`/api/v1/certificates/${certificate.id}`).expect(404);
    // Only its issuer can revoke or renew it; autoRenew is refused; it can leave the inventory.
    expect((await api().post(`/api/v1/certificates/${certificate.id}/revoke`, {}).expect(409)).body.code).toBe('conflict');
    expect((await api().post(`/api/v1/certificates/${certificate.id}/renew`, {}).expect(409)).body.code).toBe('conflict');
    expect((await api().patch(`/api/v1/certificates/${certificate.id}`, { autoRenew: true }).expect(422)).body.details.rule).toBe('autoRenew');
    expect((await api().post('/api/v1/certificates/import', { certificatePem: text('leaf.pem') }).expect(409)).body.code).toBe('conflict');
    await api().delete(`/api/v1/certificates/${certificate.id}`).expect(204);
    await api().get(`/api/v1/certificates/${certificate.id}`).expect(404);
    expect((await api().delete(`/api/v1/certificates/${signetId}`).expect(409)).body.code).toBe('conflict');
    const audit = (await api().get(`/api/v1/audit?resourceId=${certificate.id}`).expect(200)).body.events.map((e: { eventType: string }) => e.eventType);
    expect(audit).toEqual(expect.arrayContaining(['certificate.import', 'certificate.delete']));
  });

  it('imports a legacy PKCS#12, refuses a bundle with errors listing them, and writes nothing then', async () => {
    const fromPfx = (await api().post('/api/v1/certificates/import', { pfxBase64: readFileSync(join(dir, 'leaf.p12')).toString('base64'), pfxPassword: 'pw' }).expect(201)).body.certificate;
    expect(fromPfx).toEqual(expect.objectContaining({ source: 'imported', hasStoredKey: true, commonName: 'shop.partner.test' }));
    await api().delete(`/api/v1/certificates/${fromPfx.id}`).expect(204);
    const count = async () => Number((await db.query(`SELECT count(*) AS n FROM certificates WHERE source = 'imported'`)).rows[0].n);
    const before = await count();
    const refused = await api().post('/api/v1/certificates/import', { certificatePem: text('leaf.pem'), privateKeyPem: text('root.key'), chainPem: text('root.pem') + text('root.pem') });
    expectErrorShape(refused.body, 'validation_failed', 400);
    expect(refused.body.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['privateKeyPem']);
    expect((await api().post('/api/v1/certificates/import', { certificatePem: text('leaf.pem'), autoRenew: true }).expect(422)).body.details.rule).toBe('autoRenew');
    expect((await api(memberKey).post('/api/v1/certificates/import', { certificatePem: text('leaf.pem') })).status).toBe(403);
    expect(await count()).toBe(before);
  });
});
