/**
 * POST /api/v1/certificates/validate (API.md section 8) through the gateway, judged on bundles made by
 * the tools people make them with: openssl (PEM; PKCS#12 modern AES and -legacy 3DES/RC2) and Java's
 * keytool (PKCS#12). Each finding, unreadable input named by field, never a 500, nothing stored.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOrg, expectErrorShape, startGateway, withKey } from './support';

describe('certificates from elsewhere: validate', () => {
  let gateway: NestExpressApplication;
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
