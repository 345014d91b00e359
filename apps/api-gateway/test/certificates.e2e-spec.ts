import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway, startSigner } from './support';

const VECTORS = join(__dirname, '../../../libs/pki/testdata/csr');
const dir = mkdtempSync(join(tmpdir(), 'signet-certs-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};

describe('certificate issuance through the signer', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let rootId: string;
  let issuingId: string;
  let openRootId: string;

  const issue = (body: Record<string, unknown>, key = adminKey) => request(http).post('/api/v1/certificates').set(bearer(key)).send(body);

  /** openssl verify of the leaf against the chain the API returned (root as the trust anchor). */
  function verifies(certificate: { certificatePem: string; chainPem: string }, name: string): string {
    const blocks = certificate.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    writeFileSync(join(dir, `${name}.pem`), certificate.certificatePem);
    writeFileSync(join(dir, `${name}-root.pem`), blocks[blocks.length - 1]);
    writeFileSync(join(dir, `${name}-untrusted.pem`), blocks.slice(0, -1).join('') || blocks[0]);
    const result = openssl('verify', '-CAfile', `${name}-root.pem`, '-untrusted', `${name}-untrusted.pem`, `${name}.pem`);
    expect(result.out).toContain(`${name}.pem: OK`);
    return openssl('x509', '-in', `${name}.pem`, '-noout', '-text').out;
  }

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    adminKey = (await createOrg(gateway, 'Issuing org')).adminKey;
    const cas = (body: Record<string, unknown>) => request(http).post('/api/v1/cas').set(bearer(adminKey)).send(body).expect(201);
    rootId = (await cas({ name: 'Root', subject: { commonName: 'Issuance Root' } })).body.ca.id;
    issuingId = (await cas({ name: 'Issuing', subject: { commonName: 'Issuing CA' }, parentCaId: rootId, permittedDnsDomains: ['example.test'] })).body.ca.id;
    openRootId = (await cas({ name: 'Open', subject: { commonName: 'Unconstrained Root' } })).body.ca.id;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  it.each([['ECDSA-P256'], ['ECDSA-P384'], ['RSA-2048'], ['Ed25519']])('issues a managed %s leaf that openssl verifies against the returned chain', async (keyAlgorithm) => {
    const res = await issue({ caId: issuingId, commonName: 'www.example.test', sanDns: ['api.example.test'], sanIp: ['192.0.2.7'], keyAlgorithm, usage: 'server-client' }).expect(201);
    expect(res.body.certificate).toMatchObject({
      caId: issuingId, commonName: 'www.example.test', keyAlgorithm, mode: 'managed', status: 'active', daysRemaining: 89,
      sanDns: ['www.example.test', 'api.example.test'], sanIp: ['192.0.2.7'], extendedKeyUsage: ['serverAuth', 'clientAuth'], hasStoredKey: false,
      serialNumber: expect.stringMatching(/^[0-9A-F]{32}$/), fingerprintSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const text = verifies(res.body.certificate, `managed-${keyAlgorithm}`);
    expect(text).toMatch(/DNS:www.example.test, DNS:api.example.test, IP Address:192.0.2.7/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    // The private key matches the certificate.
    writeFileSync(join(dir, `managed-${keyAlgorithm}.key`), res.body.privateKey);
    const fromKey = openssl('pkey', '-in', `managed-${keyAlgorithm}.key`, '-pubout').out;
    const fromCert = openssl('x509', '-in', `managed-${keyAlgorithm}.pem`, '-noout', '-pubkey').out;
    expect(fromKey).toBe(fromCert);
    const again = await request(http).get(`/api/v1/certificates/${res.body.certificate.id}`).set(bearer(adminKey)).expect(200);
    expect(again.body.certificate.serialNumber).toBe(res.body.certificate.serialNumber);
    expect(again.body.privateKey).toBeUndefined();
    // The answer is made from the signer's outcome, not read back: it must be the stored row's, key for key, in the same order.
    expect(JSON.stringify(res.body.certificate)).toBe(JSON.stringify(again.body.certificate));
  });

  const vectors: Record<string, { expect: string; commonName?: string; sanDns?: string[] }> = JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8'));

  it.each(Object.entries(vectors).filter(([, v]) => v.expect === 'accept' && v.commonName?.endsWith('.example.test')))('issues from the CSR %s', async (file, expected) => {
    const csrPem = readFileSync(join(VECTORS, file)).toString(file.endsWith('.der') ? 'base64' : 'utf8');
    const res = await issue({ caId: openRootId, mode: 'csr', csrPem, usage: 'server' }).expect(201);
    expect(res.body.privateKey).toBeUndefined();
    expect(res.body.certificate.commonName).toBe(expected.commonName);
    expect(res.body.certificate.sanDns).toEqual(expect.arrayContaining(expected.sanDns ?? []));
    verifies(res.body.certificate, `csr-${file.replace(/\W/g, '')}`);
    // The subject as the CSR had it, in the order the stored row (jsonb) answers with afterwards.
    const again = await request(http).get(`/api/v1/certificates/${res.body.certificate.id}`).set(bearer(adminKey)).expect(200);
    expect(JSON.stringify(res.body.certificate)).toBe(JSON.stringify(again.body.certificate));
  });

  it.each(Object.entries(vectors).filter(([, v]) => v.expect === 'reject'))('refuses the CSR %s with a clear error', async (file) => {
    const bytes = readFileSync(join(VECTORS, file));
    const res = await issue({ caId: openRootId, mode: 'csr', csrPem: bytes.toString(file.endsWith('.der') ? 'base64' : 'utf8') });
    expect([400, 422]).toContain(res.status);
    expect(['validation_failed', 'policy_violation']).toContain(res.body.code);
    expect(res.body.error.length).toBeGreaterThan(10);
  });

  it('refuses hostile input with clear errors and stores nothing', async () => {
    const stored = async () => {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      const [{ n }] = (await client.query('SELECT count(*)::int AS n FROM certificates')).rows;
      await client.end();
      return n as number;
    };
    const before = await stored();
    const checks: [Record<string, unknown>, number, string][] = [
      [{ caId: issuingId, commonName: 'x.example.test', sanDns: Array.from({ length: 10_000 }, (_, i) => `h${i}.example.test`) }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', sanDns: ['bücher.example.test'] }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', validityDays: -5 }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', validityDays: 398 }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', sanDns: ['www.*.example.test'] }, 422, 'policy_violation'],
      [{ caId: issuingId, commonName: 'evil.example.com' }, 422, 'policy_violation'],
      [{ caId: issuingId, commonName: 'x.example.test', usage: 'teapot', extendedKeyUsage: ['brewing'] }, 400, 'validation_failed'],
      [{ caId: issuingId, mode: 'csr' }, 400, 'validation_failed'],
      [{ caId: issuingId }, 400, 'validation_failed'],
      [{ caId: 'not-a-uuid', commonName: 'x' }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', sanIp: ['10.0.0.300'] }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: '1.2.3' }, 400, 'validation_failed'],
      [{ caId: issuingId, commonName: 'x.example.test', subject: [] }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of checks) {
      const res = await issue(body);
      expect({ body: Object.keys(body), status: res.status, code: res.body.code }).toEqual({ body: Object.keys(body), status, code });
      expectErrorShape(res.body, code, status);
      // validation_failed always lists its fields, whether the gateway or the signer refused.
      if (code === 'validation_failed') expect(res.body.details.fields.length).toBeGreaterThan(0);
    }
    const fieldsOf = async (body: Record<string, unknown>) => (await issue(body)).body.details.fields.map((f: { field: string }) => f.field);
    expect(await fieldsOf({ caId: issuingId, commonName: 'x.example.test', sanIp: ['10.0.0.300'] })).toEqual(['sanIp']);
    expect(await fieldsOf({ caId: issuingId, commonName: '1.2.3' })).toEqual(['commonName']);
    // Bodies are JSON: another type is 415 before anything is read.
    const typed = await request(http).post('/api/v1/certificates').set(bearer(adminKey)).set('Content-Type', 'text/plain')
      .send(JSON.stringify({ caId: issuingId, commonName: 'typed.example.test' }));
    expectErrorShape(typed.body, 'unsupported_media_type', 415);
    const big = await request(http).post('/api/v1/certificates').set(bearer(adminKey)).set('Content-Type', 'application/json').send(`{"caId":"${issuingId}","notes":"${'x'.repeat(10 * 1024 * 1024)}"}`);
    expect(big.status).toBe(413);
    expect(await stored()).toBe(before);
  });

  it('holds issuance to the CA: validity past it, a passphrase, and per-CA permissions', async () => {
    const short = (await request(http).post('/api/v1/cas').set(bearer(adminKey)).send({ name: 'Short', subject: { commonName: 'Short' }, validityDays: 10 }).expect(201)).body.ca.id;
    expectErrorShape((await issue({ caId: short, commonName: 'a.example.test', validityDays: 30 }).expect(422)).body, 'policy_violation', 422);
    const locked = (await request(http).post('/api/v1/cas').set(bearer(adminKey)).send({ name: 'Locked', subject: { commonName: 'Locked' }, passphrase: 'twelve chars or more' }).expect(201)).body.ca.id;
    expectErrorShape((await issue({ caId: locked, commonName: 'a.example.test' }).expect(409)).body, 'ca_unavailable', 409);
    const underLock = await issue({ caId: locked, commonName: 'a.example.test', caPassphrase: 'twelve chars or more' }).expect(201);
    // Renewing with revokeOld under a passphrase CA revokes the old one with the same passphrase.
    const renewed = await request(http).post(`/api/v1/certificates/${underLock.body.certificate.id}/renew`).set(bearer(adminKey))
      .send({ revokeOld: true, caPassphrase: 'twelve chars or more' }).expect(201);
    const old = await request(http).get(`/api/v1/certificates/${underLock.body.certificate.id}`).set(bearer(adminKey)).expect(200);
    expect(old.body.certificate).toMatchObject({ status: 'revoked', revocationReason: 'superseded', supersededById: renewed.body.certificate.id });
    const reader = await createKey(gateway, adminKey, { name: 'reader', role: 'member', permissions: { [issuingId]: { read: true } } });
    expectErrorShape((await issue({ caId: issuingId, commonName: 'a.example.test' }, reader.key).expect(403)).body, 'forbidden', 403);
    await issue({ caId: openRootId, commonName: 'a.example.test' }, reader.key).expect(404);
    const issuer = await createKey(gateway, adminKey, { name: 'issuer', role: 'member', permissions: { [issuingId]: { read: true, issue: true } } });
    const ok = await issue({ caId: issuingId, commonName: 'b.example.test' }, issuer.key).expect(201);
    await request(http).get(`/api/v1/certificates/${ok.body.certificate.id}`).set(bearer(reader.key)).expect(200);
    const audit = await request(http).get('/api/v1/audit?eventType=certificate.issue&outcome=success&limit=1000').set(bearer(adminKey)).expect(200);
    expect(audit.body.events.find((e: { resourceId: string }) => e.resourceId === ok.body.certificate.id)).toMatchObject({ actor: { name: 'issuer' } });
  });
  it('lists with search, status, CA filter, sort and pages; a member sees only its CAs', async () => {
    const list = (query: string, key = adminKey) => request(http).get(`/api/v1/certificates${query}`).set(bearer(key)).expect(200);
    const all = await list('?pageSize=1000');
    // Empty parameters are no filter (API.md writes `?caId=&search=`); a page past any list is refused, not a 500.
    const unfiltered = (await list('?pageSize=1000&caId=&search=&usage=')).body;
    expect(unfiltered.certificates.map((c: { id: string }) => c.id)).toEqual(all.body.certificates.map((c: { id: string }) => c.id));
    expectErrorShape((await request(http).get('/api/v1/certificates?page=99999999999999999999').set(bearer(adminKey)).expect(400)).body, 'validation_failed', 400);
    expectErrorShape((await request(http).get('/api/v1/certificates/not-a-uuid').set(bearer(adminKey)).expect(404)).body, 'not_found', 404);
    expect(all.body.total).toBeGreaterThanOrEqual(15);
    expect(all.body).toMatchObject({ page: 1, pageSize: 1000, totalPages: 1 });
    const byName = await list('?search=WWW.EXAMPLE&pageSize=100');
    expect(byName.body.certificates.length).toBeGreaterThanOrEqual(4);
    expect(byName.body.certificates.every((c: { commonName: string }) => c.commonName === 'www.example.test')).toBe(true);
    const bySan = await list('?search=api.example.test');
    expect(bySan.body.certificates.every((c: { sanDns: string[] }) => c.sanDns.includes('api.example.test'))).toBe(true);
    const one = all.body.certificates[0];
    expect((await list(`?search=${one.serialNumber.toLowerCase()}`)).body.certificates.map((c: { id: string }) => c.id)).toEqual([one.id]);
    expect((await list(`?search=${one.fingerprintSha256}`)).body.certificates.map((c: { id: string }) => c.id)).toEqual([one.id]);
    // A part of a serial or fingerprint finds it too (colon-separated as openssl prints them, any case).
    const serialPart = one.serialNumber.slice(4, 20).toLowerCase().replace(/(..)(?!$)/g, '$1:');
    expect((await list(`?search=${serialPart}`)).body.certificates.map((c: { id: string }) => c.id)).toContain(one.id);
    expect((await list(`?search=${one.fingerprintSha256.slice(10, 40).toUpperCase()}`)).body.certificates.map((c: { id: string }) => c.id)).toEqual([one.id]);
    const issuingOnly = await list(`?caId=${issuingId}&pageSize=1000`);
    expect(issuingOnly.body.certificates.every((c: { caId: string }) => c.caId === issuingId)).toBe(true);
    // One revoked so far: the certificate renewed with revokeOld in the test above.
    expect((await list('?status=revoked')).body.total).toBe(1);
    expect((await list('?status=expiring&expiringInDays=100')).body.total).toBe(all.body.total - 1);
    expect((await list('?status=expiring&expiringInDays=30')).body.total).toBe(0);
    const sorted = (await list('?sortBy=commonName&sortOrder=asc&pageSize=1000')).body.certificates.map((c: { commonName: string }) => c.commonName.toLowerCase());
    expect(sorted).toEqual([...sorted].sort());
    const page2 = await list('?pageSize=2&page=2');
    expect(page2.body.certificates).toHaveLength(2);
    expect(page2.body.totalPages).toBe(Math.ceil(all.body.total / 2));
    const member = await createKey(gateway, adminKey, { name: 'lister', role: 'member', permissions: { [issuingId]: { read: true } } });
    const seen = await list('?pageSize=1000', member.key);
    expect(seen.body.total).toBe(issuingOnly.body.total);
    const bad = await request(http).get('/api/v1/certificates?status=old&sortBy=serial&pageSize=0').set(bearer(adminKey)).expect(400);
    expect(bad.body.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['pageSize', 'sortBy', 'status']);
  });
  it('updates, downloads, revokes once and counts', async () => {
    const issued = (await issue({ caId: issuingId, commonName: 'life.example.test' }).expect(201)).body.certificate;
    // Its key was not kept, so automatic renewal could never hand a new one to anybody: refused, nothing changed.
    const never = await request(http).patch(`/api/v1/certificates/${issued.id}`).set(bearer(adminKey)).send({ autoRenew: true, notes: 'x' }).expect(422);
    expect([never.body.code, never.body.details.rule]).toEqual(['policy_violation', 'autoRenew']);
    const patched = await request(http).patch(`/api/v1/certificates/${issued.id}`).set(bearer(adminKey)).send({ renewalThresholdDays: 20, notes: 'rotated by ops' }).expect(200);
    expect(patched.body.certificate).toMatchObject({ autoRenew: false, renewalThresholdDays: 20, notes: 'rotated by ops' });
    await request(http).patch(`/api/v1/certificates/${issued.id}`).set(bearer(adminKey)).send({ commonName: 'nope' }).expect(400);

    const download = (format: string) => request(http).get(`/api/v1/certificates/${issued.id}/download?format=${format}`).set(bearer(adminKey));
    const pem = await download('pem').expect(200);
    writeFileSync(join(dir, 'dl.pem'), pem.text);
    expect(openssl('x509', '-in', 'dl.pem', '-noout', '-subject').out).toContain('CN = life.example.test');
    const der = await download('der').buffer(true).parse((res, cb) => { const chunks: Buffer[] = []; res.on('data', (c: Buffer) => chunks.push(c)); res.on('end', () => cb(null, Buffer.concat(chunks))); }).expect(200);
    expect(der.headers['content-type']).toMatch(/application\/pkix-cert/);
    writeFileSync(join(dir, 'dl.der'), der.body as Buffer);
    expect(openssl('x509', '-inform', 'DER', '-in', 'dl.der', '-noout').ok).toBe(true);
    expect((await download('fullchain').expect(200)).text.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect((await download('json').expect(200)).body).toEqual({ certificatePem: expect.any(String), chainPem: expect.any(String), fullchainPem: expect.any(String) });
    await download('csr').expect(404);
    await download('key').expect(404);
    await download('exe').expect(400);

    const reader = await createKey(gateway, adminKey, { name: 'no-revoke', role: 'member', permissions: { [issuingId]: { read: true, issue: true } } });
    await request(http).post(`/api/v1/certificates/${issued.id}/revoke`).set(bearer(reader.key)).send({}).expect(403);
    await request(http).post(`/api/v1/certificates/${issued.id}/revoke`).set(bearer(adminKey)).send({ reason: 'fell_off_truck' }).expect(400);
    const [first, second] = await Promise.all([
      request(http).post(`/api/v1/certificates/${issued.id}/revoke`).set(bearer(adminKey)).send({ reason: 'key_compromise', comments: 'laptop lost' }),
      request(http).post(`/api/v1/certificates/${issued.id}/revoke`).set(bearer(adminKey)).send({ reason: 'keyCompromise' }),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const ok = first.status === 200 ? first : second;
    expect(ok.body.certificate).toMatchObject({ status: 'revoked', revocationReason: 'keyCompromise', revokedAt: expect.any(String) });
    expectErrorShape((first.status === 409 ? first : second).body, 'already_revoked', 409);

    const stats = await request(http).get(`/api/v1/certificates/stats?caId=${issuingId}`).set(bearer(adminKey)).expect(200);
    expect(stats.body).toMatchObject({ total: expect.any(Number), revoked: 1, byCa: { [issuingId]: stats.body.total }, byUsage: expect.any(Object), byKeyAlgorithm: expect.any(Object) });
    expect(stats.body.active + stats.body.revoked + stats.body.expired).toBe(stats.body.total);
    const audit = await request(http).get(`/api/v1/audit?resourceId=${issued.id}&outcome=success`).set(bearer(adminKey)).expect(200);
    expect(audit.body.events.map((e: { eventType: string }) => e.eventType).sort()).toEqual(['certificate.issue', 'certificate.revoke', 'certificate.update']);
  });
  it('hands out a stored key (key, json, zip) only to keys that may issue, sealed through the signer', async () => {
    const stored = (await issue({ caId: issuingId, commonName: 'stored.example.test', storeKey: true, keyAlgorithm: 'ECDSA-P384' }).expect(201)).body;
    expect(stored.certificate.hasStoredKey).toBe(true);
    const download = (format: string, key = adminKey) => request(http).get(`/api/v1/certificates/${stored.certificate.id}/download?format=${format}`).set(bearer(key));
    const binary = (format: string, key = adminKey) =>
      download(format, key).buffer(true).parse((res, cb) => { const chunks: Buffer[] = []; res.on('data', (c: Buffer) => chunks.push(c)); res.on('end', () => cb(null, Buffer.concat(chunks))); });

    const key = await download('key').expect(200);
    expect(key.text).toBe(stored.privateKey);
    writeFileSync(join(dir, 'stored.key'), key.text);
    writeFileSync(join(dir, 'stored.pem'), stored.certificate.certificatePem);
    expect(openssl('pkey', '-in', 'stored.key', '-pubout').out).toBe(openssl('x509', '-in', 'stored.pem', '-noout', '-pubkey').out);
    expect((await download('json').expect(200)).body.privateKeyPem).toBe(stored.privateKey);

    const archive = await binary('zip').expect(200);
    expect(archive.headers['content-type']).toMatch(/application\/zip/);
    writeFileSync(join(dir, 'stored.zip'), archive.body as Buffer);
    const unzip = spawnSync('unzip', ['-o', '-d', join(dir, 'unzipped'), join(dir, 'stored.zip')], { encoding: 'utf8' });
    expect(unzip.status).toBe(0);
    const unpacked = (file: string) => readFileSync(join(dir, 'unzipped', 'stored.example.test', file), 'utf8');
    expect(unpacked('private.key')).toBe(stored.privateKey);
    expect(unpacked('certificate.pem')).toBe(stored.certificate.certificatePem);
    expect(unpacked('fullchain.pem')).toBe(stored.certificate.certificatePem + stored.certificate.chainPem);

    // Read-only: the certificate, never the key.
    const reader = await createKey(gateway, adminKey, { name: 'reader', role: 'member', permissions: { [issuingId]: { read: true } } });
    expectErrorShape((await download('key', reader.key).expect(403)).body, 'forbidden', 403);
    expect((await download('json', reader.key).expect(200)).body.privateKeyPem).toBeUndefined();
    writeFileSync(join(dir, 'reader.zip'), (await binary('zip', reader.key).expect(200)).body as Buffer);
    expect(spawnSync('unzip', ['-l', join(dir, 'reader.zip')], { encoding: 'utf8' }).stdout).not.toContain('private.key');

    // Every hand-out is audited, with no key material in the event.
    const audit = await request(http).get(`/api/v1/audit?eventType=certificate.key_export&resourceId=${stored.certificate.id}`).set(bearer(adminKey)).expect(200);
    expect(audit.body.events).toHaveLength(3);
    expect(JSON.stringify(audit.body)).not.toContain('PRIVATE KEY');
  });

  it('replays an Idempotency-Key: sequential and 20 racing retries give one certificate; another body is 422', async () => {
    const csrPem = readFileSync(join(VECTORS, 'ok-go-p256-two-dns.pem'), 'utf8');
    const body = { caId: openRootId, mode: 'csr', csrPem };
    const withKey = (key: string, b: Record<string, unknown> = body) => issue(b).set('Idempotency-Key', key);
    const first = await withKey('retry-1').expect(201);
    const again = await withKey('retry-1').send({ csrPem, mode: 'csr', caId: openRootId }).expect(201);
    expect(again.body.certificate.id).toBe(first.body.certificate.id);

    const countForCa = async () => {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      const { rows } = await client.query('SELECT count(*)::int AS n FROM certificates WHERE ca_id = $1', [openRootId]);
      await client.end();
      return rows[0].n as number;
    };
    const before = await countForCa();
    const racing = await Promise.all(Array.from({ length: 20 }, () => withKey('race-1')));
    expect(racing.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(racing.map((r) => r.body.certificate.id)).size).toBe(1);
    expect(await countForCa()).toBe(before + 1);
    const list = await request(http).get(`/api/v1/certificates?search=${racing[0].body.certificate.serialNumber}`).set(bearer(adminKey)).expect(200);
    expect(list.body.total).toBe(1);

    expectErrorShape((await withKey('retry-1', { ...body, notes: 'different' }).expect(422)).body, 'idempotency_mismatch', 422);
    await withKey('managed-1', { caId: openRootId, commonName: 'm.example.test' }).expect(400);
    // A refusal is replayed too.
    const refused = await withKey('bad-1', { ...body, validityDays: 398 });
    expect(refused.status).toBe(400);
  });
  it('renews: new serial and key, same names, supersededById on the old one, once', async () => {
    const old = (await issue({ caId: issuingId, commonName: 'renew.example.test', sanDns: ['alt.example.test'], usage: 'client', validityDays: 30 }).expect(201)).body;
    const renewal = await request(http).post(`/api/v1/certificates/${old.certificate.id}/renew`).set(bearer(adminKey)).send({}).expect(201);
    expect(renewal.body.certificate).toMatchObject({
      commonName: 'renew.example.test', sanDns: ['renew.example.test', 'alt.example.test'], usage: 'client', extendedKeyUsage: ['clientAuth'],
      renewedFromId: old.certificate.id, caId: issuingId, daysRemaining: 29,
    });
    expect(renewal.body.certificate.serialNumber).not.toBe(old.certificate.serialNumber);
    expect(renewal.body.privateKey).toMatch(/BEGIN PRIVATE KEY/);
    expect(renewal.body.privateKey).not.toBe(old.privateKey);
    verifies(renewal.body.certificate, 'renewed');
    const before = await request(http).get(`/api/v1/certificates/${old.certificate.id}`).set(bearer(adminKey)).expect(200);
    expect(before.body.certificate.supersededById).toBe(renewal.body.certificate.id);
    expectErrorShape((await request(http).post(`/api/v1/certificates/${old.certificate.id}/renew`).set(bearer(adminKey)).send({}).expect(409)).body, 'conflict', 409);

    const csrPem = readFileSync(join(VECTORS, 'ok-openssl-p256-wildcard.pem'), 'utf8');
    const fromCsr = (await issue({ caId: openRootId, mode: 'csr', csrPem }).expect(201)).body.certificate;
    await request(http).post(`/api/v1/certificates/${fromCsr.id}/renew`).set(bearer(adminKey)).send({}).expect(400);
    const csrRenewal = await request(http).post(`/api/v1/certificates/${fromCsr.id}/renew`).set(bearer(adminKey)).send({ csrPem, revokeOld: true, validityDays: 10 }).expect(201);
    expect(csrRenewal.body.certificate).toMatchObject({ renewedFromId: fromCsr.id, mode: 'csr', daysRemaining: 9 });
    expect(csrRenewal.body.privateKey).toBeUndefined();
    const revokedOld = await request(http).get(`/api/v1/certificates/${fromCsr.id}`).set(bearer(adminKey)).expect(200);
    expect(revokedOld.body.certificate).toMatchObject({ status: 'revoked', revocationReason: 'superseded', supersededById: csrRenewal.body.certificate.id });
    const audit = await request(http).get(`/api/v1/audit?eventType=certificate.renew&outcome=success`).set(bearer(adminKey)).expect(200);
    expect(audit.body.events.map((e: { resourceId: string }) => e.resourceId)).toEqual(expect.arrayContaining([renewal.body.certificate.id, csrRenewal.body.certificate.id]));
  });
  it('issues batches (items and CertMate rows) with per-item errors that never sink the others', async () => {
    const batch = (body: Record<string, unknown>, key = adminKey) => request(http).post('/api/v1/certificates/batch').set(bearer(key)).send(body);
    const res = await batch({
      items: [
        { caId: issuingId, commonName: 'b1.example.test' },
        { caId: issuingId, commonName: 'evil.example.com' },
        { caId: issuingId, commonName: 'b3.example.test', bogus: true },
        'not an object',
        { caId: openRootId, mode: 'csr', csrPem: readFileSync(join(VECTORS, 'ok-go-p256-two-dns.pem'), 'utf8') },
        { caId: issuingId, commonName: 'b6.example.test', keyAlgorithm: 'Ed25519', validityDays: 400 },
      ],
    }).expect(201);
    expect(res.body).toMatchObject({ total: 6, successful: 2, failed: 4 });
    expect(res.body.errors.map((e: { index: number; code: string }) => [e.index, e.code])).toEqual([
      [1, 'policy_violation'], [2, 'validation_failed'], [3, 'bad_request'], [5, 'validation_failed'],
    ]);
    expect(res.body.certificates.map((c: { index: number }) => c.index)).toEqual([0, 4]);
    expect(res.body.certificates[0].privateKey).toMatch(/BEGIN PRIVATE KEY/);
    verifies(res.body.certificates[0].certificate, 'batch-0');

    const certmate = await batch({
      caId: issuingId,
      headers: ['commonName', 'sanDns', 'validityDays', 'usage'],
      rows: [['cm1.example.test', 'cm1-alt.example.test;cm1-b.example.test', '30', 'server'], ['cm2.example.test', '', 'x', 'client']],
    }).expect(201);
    expect(certmate.body).toMatchObject({ total: 2, successful: 1, failed: 1 });
    expect(certmate.body.certificates[0].certificate.sanDns).toEqual(['cm1.example.test', 'cm1-alt.example.test', 'cm1-b.example.test']);

    const member = await createKey(gateway, adminKey, { name: 'batcher', role: 'member', permissions: { [issuingId]: { read: true } } });
    const denied = await batch({ items: [{ caId: issuingId, commonName: 'm.example.test' }, { caId: openRootId, commonName: 'm.example.test' }] }, member.key).expect(201);
    expect(denied.body.errors.map((e: { code: string }) => e.code)).toEqual(['forbidden', 'not_found']);
    expect((await batch({ items: Array.from({ length: 1001 }, () => ({})) }).expect(400)).body.code).toBe('validation_failed');
    await batch({}).expect(400);
  });
  it('revokes an intermediate CA once; issuing from it then stops with ca_unavailable', async () => {
    const sub = (await request(http).post('/api/v1/cas').set(bearer(adminKey)).send({ name: 'Doomed', subject: { commonName: 'Doomed CA' }, parentCaId: openRootId }).expect(201)).body.ca;
    await issue({ caId: sub.id, commonName: 'before.example.test' }).expect(201);
    await request(http).post(`/api/v1/cas/${openRootId}/revoke`).set(bearer(adminKey)).send({}).expect(422);
    const revoked = await request(http).post(`/api/v1/cas/${sub.id}/revoke`).set(bearer(adminKey)).send({ reason: 'ca_compromise' }).expect(200);
    expect(revoked.body.ca).toMatchObject({ status: 'revoked', revocationReason: 'caCompromise', revokedAt: expect.any(String) });
    expectErrorShape((await request(http).post(`/api/v1/cas/${sub.id}/revoke`).set(bearer(adminKey)).send({}).expect(409)).body, 'already_revoked', 409);
    expectErrorShape((await issue({ caId: sub.id, commonName: 'after.example.test' }).expect(409)).body, 'ca_unavailable', 409);
    expect((await request(http).get('/api/v1/cas').set(bearer(adminKey))).body.cas.map((c: { id: string }) => c.id)).not.toContain(sub.id);
    expect((await request(http).get('/api/v1/cas?includeRevoked=true').set(bearer(adminKey))).body.cas.map((c: { id: string }) => c.id)).toContain(sub.id);
  });
});
