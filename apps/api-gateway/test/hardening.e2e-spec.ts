/**
 * Issue 18's hardening findings against the real stack (the gateway, a built signer, PostgreSQL, Redis):
 * nothing issues or creates CAs under a revoked or expired CA at any depth; a key revoked for
 * keyCompromise is refused for good; CSRs meet the REST request's limits; no anyExtendedKeyUsage leaves;
 * an intermediate's default validity fits inside its parent; API key permissions name only CAs of the
 * org; a revoked platform key takes the platform keys it minted with it; CA ids in /pki URLs are one
 * cache entry whatever their case. Certificates are judged with the openssl CLI.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Tag } from '@signet/pki';
import { RunningService, craftedCsr, stopService } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { PkiStore } from '../src/app/pki/pki-store';
import { TEST_ADMIN_KEY, bearer, createOrg, expectErrorShape, sleep, startGateway, startSigner, uniqueSlug } from './support';

const dir = mkdtempSync(join(tmpdir(), 'signet-hardening-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
let files = 0;
/** A new key (openssl genpkey `args`) and a CSR for it; the key's file name for more CSRs. */
function keyAndCsr(genpkey: string[], subject = '/CN=device.example.test', extra: string[] = []): { key: string; csrPem: string } {
  const key = `key-${++files}.pem`;
  openssl('genpkey', ...genpkey, '-out', key);
  return { key, csrPem: csrFor(key, subject, extra) };
}
function csrFor(key: string, subject = '/CN=device.example.test', extra: string[] = []): string {
  const out = `csr-${++files}.pem`;
  openssl('req', '-new', '-key', key, '-subj', subject, ...extra, '-out', out);
  return openssl('req', '-in', out);
}
const P256 = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
/** notAfter of a PEM certificate, as openssl reads it. */
function notAfterOf(pem: string): string {
  const file = `cert-${++files}.pem`;
  writeFileSync(join(dir, file), pem);
  return openssl('x509', '-in', file, '-noout', '-enddate').trim();
}

describe('hardening (issue 18)', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let adminKey: string;

  const api = (key = adminKey) => ({
    get: (path: string) => request(http).get(path).set(bearer(key)),
    post: (path: string, body: unknown) => request(http).post(path).set(bearer(key)).send(body as object),
    delete: (path: string) => request(http).delete(path).set(bearer(key)),
  });
  const fieldsOf = (res: request.Response) => (res.body.details?.fields ?? []).map((f: { field: string }) => f.field);
  type Ca = { id: string; certificatePem: string; validTo: string };
  const createCa = async (name: string, parentCaId?: string, extra: Record<string, unknown> = {}): Promise<Ca> =>
    (await api().post('/api/v1/cas', { name, subject: { commonName: name }, parentCaId, ...extra }).expect(201)).body.ca;

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Hardening org')).adminKey;
  });
  afterAll(async () => {
    await db?.end();
    await gateway?.close();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  describe('a CA under a revoked or expired CA, at any depth', () => {
    let root: Ca;
    let first: Ca;
    let second: Ca;
    let third: Ca;

    beforeAll(async () => {
      root = await createCa('Chain Root');
      first = await createCa('Chain Intermediate 1', root.id);
      // No validityDays at depth 2 and 3: the default fits inside the parent (finding 5).
      second = await createCa('Chain Intermediate 2', first.id);
      third = await createCa('Chain Intermediate 3', second.id);
    });

    it('gives an intermediate without validityDays the default cut at its parent; a given one past the parent stays 422', async () => {
      expect(notAfterOf(second.certificatePem)).toBe(notAfterOf(first.certificatePem));
      expect(notAfterOf(third.certificatePem)).toBe(notAfterOf(first.certificatePem));
      expect(third.validTo).toBe(first.validTo);
      // An explicit validity inside the parent is kept as asked.
      const short = await createCa('Short', first.id, { validityDays: 30 });
      expect(Math.round((new Date(short.validTo).getTime() - Date.now()) / 86_400_000)).toBe(30);
      const res = await api().post('/api/v1/cas', { name: 'Too long', subject: { commonName: 'Too long' }, parentCaId: first.id, validityDays: 1825 }).expect(422);
      expectErrorShape(res.body, 'policy_violation', 422);
      expect(res.body.details).toEqual({ field: 'validityDays' });
    });

    it('refuses issuance (managed, csr, batch) and CA creation below a revoked intermediate with 409 ca_unavailable', async () => {
      const sibling = await createCa('Healthy Intermediate', root.id);
      await api().post('/api/v1/certificates', { caId: third.id, commonName: 'before.example.test' }).expect(201);
      await api().post(`/api/v1/cas/${first.id}/revoke`, { reason: 'caCompromise' }).expect(200);

      const { csrPem } = keyAndCsr(P256);
      const attempts: [string, () => request.Test][] = [
        ['managed at depth 2', () => api().post('/api/v1/certificates', { caId: second.id, commonName: 'a.example.test' })],
        ['managed at depth 3', () => api().post('/api/v1/certificates', { caId: third.id, commonName: 'b.example.test' })],
        ['csr at depth 3', () => api().post('/api/v1/certificates', { caId: third.id, mode: 'csr', csrPem })],
        ['a CA at depth 3', () => api().post('/api/v1/cas', { name: 'Under', subject: { commonName: 'Under' }, parentCaId: second.id })],
        ['a CA at depth 4', () => api().post('/api/v1/cas', { name: 'Under', subject: { commonName: 'Under' }, parentCaId: third.id })],
      ];
      for (const [what, send] of attempts) {
        const res = await send();
        expect({ what, status: res.status, code: res.body.code }).toEqual({ what, status: 409, code: 'ca_unavailable' });
        expectErrorShape(res.body, 'ca_unavailable', 409);
        expect(res.body.error).toContain(first.id);
      }
      const batch = await api().post('/api/v1/certificates/batch', {
        items: [{ caId: third.id, commonName: 'c.example.test' }, { caId: sibling.id, commonName: 'd.example.test' }],
      }).expect(201);
      expect({ successful: batch.body.successful, failed: batch.body.failed, codes: batch.body.errors.map((e: { code: string }) => e.code) })
        .toEqual({ successful: 1, failed: 1, codes: ['ca_unavailable'] });
      // The rest of the hierarchy is untouched.
      await api().post('/api/v1/certificates', { caId: sibling.id, commonName: 'e.example.test' }).expect(201);
      await createCa('Still fine', sibling.id);
    });

    it('refuses issuance and CA creation below an expired CA', async () => {
      const top = await createCa('Expiring Intermediate', root.id);
      const below = await createCa('Below Expiring', top.id);
      await api().post('/api/v1/certificates', { caId: below.id, commonName: 'f.example.test' }).expect(201);
      // Its end, moved into the past (the one way a test can have a CA expire).
      await db.query(`UPDATE cas SET valid_to = now() - interval '1 minute' WHERE id = $1`, [top.id]);
      const issued = await api().post('/api/v1/certificates', { caId: below.id, commonName: 'g.example.test' }).expect(409);
      expectErrorShape(issued.body, 'ca_unavailable', 409);
      expect(issued.body.error).toMatch(new RegExp(`${top.id}.*expired`));
      const created = await api().post('/api/v1/cas', { name: 'Under', subject: { commonName: 'Under' }, parentCaId: below.id }).expect(409);
      expectErrorShape(created.body, 'ca_unavailable', 409);
    });
  });

  describe('keys revoked for keyCompromise', () => {
    let caId: string;
    beforeAll(async () => {
      caId = (await createCa('Compromise Root')).id;
    });

    it('refuses a CSR for a key of a certificate revoked for keyCompromise (issue and renew), in that org only', async () => {
      const { key, csrPem } = keyAndCsr(P256, '/CN=leaky.example.test');
      const issued = (await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem }).expect(201)).body.certificate;
      // Revoked for another reason, the key is still good for a new certificate.
      const superseded = (await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: csrFor(key, '/CN=other.example.test') }).expect(201)).body.certificate;
      await api().post(`/api/v1/certificates/${superseded.id}/revoke`, { reason: 'superseded' }).expect(200);
      await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: csrFor(key, '/CN=still.example.test') }).expect(201);

      await api().post(`/api/v1/certificates/${issued.id}/revoke`, { reason: 'key_compromise' }).expect(200);
      const again = [
        ['issue, the same CSR', () => api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem })],
        ['issue, a new CSR for the key', () => api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: csrFor(key, '/CN=new-name.example.test') })],
        ['renew with the same key', () => api().post(`/api/v1/certificates/${issued.id}/renew`, { csrPem: csrFor(key, '/CN=leaky.example.test') })],
      ] as const;
      for (const [what, send] of again) {
        const res = await send();
        expect({ what, status: res.status, code: res.body.code, details: res.body.details })
          .toEqual({ what, status: 422, code: 'policy_violation', details: { field: 'csrPem', rule: 'compromisedKey' } });
        expectErrorShape(res.body, 'policy_violation', 422);
      }
      // A batch: the compromised item fails alone.
      const batch = await api().post('/api/v1/certificates/batch', {
        items: [{ caId, mode: 'csr', csrPem }, { caId, mode: 'csr', csrPem: keyAndCsr(P256).csrPem }],
      }).expect(201);
      expect({ successful: batch.body.successful, codes: batch.body.errors.map((e: { code: string }) => e.code) }).toEqual({ successful: 1, codes: ['policy_violation'] });
      // A new key is fine; so is the same key in another org (its compromise is this org's to declare).
      await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: keyAndCsr(P256).csrPem }).expect(201);
      const other = (await createOrg(gateway, 'Other org')).adminKey;
      const otherCa = (await api(other).post('/api/v1/cas', { name: 'Other Root', subject: { commonName: 'Other Root' } }).expect(201)).body.ca.id;
      await api(other).post('/api/v1/certificates', { caId: otherCa, mode: 'csr', csrPem }).expect(201);
    });
  });

  describe('CSR values within the REST request limits', () => {
    let caId: string;
    beforeAll(async () => {
      caId = (await createCa('Limits Root')).id;
    });

    it('refuses a 1000-character CN, 400 SANs and a PrintableString with @ (400), and RSA e=3 (422)', async () => {
      const sans = `subjectAltName=${Array.from({ length: 400 }, (_, i) => `DNS:h${i}.example.test`).join(',')}`;
      const cases: [string, string, number, string][] = [
        ['a 1000-character CN', craftedCsr(Tag.UTF8_STRING, Buffer.from('a'.repeat(1000))), 400, 'validation_failed'],
        ['a 65-character CN', craftedCsr(Tag.UTF8_STRING, Buffer.from('a'.repeat(65))), 400, 'validation_failed'],
        ['400 SANs', keyAndCsr(P256, '/CN=many.example.test', ['-addext', sans]).csrPem, 400, 'validation_failed'],
        ['@ in a PrintableString', craftedCsr(Tag.PRINTABLE_STRING, Buffer.from('user@example.test')), 400, 'validation_failed'],
        ['RSA e=3', keyAndCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt', 'rsa_keygen_pubexp:3']).csrPem, 422, 'policy_violation'],
      ];
      for (const [what, csrPem, status, code] of cases) {
        const res = await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem });
        expect({ what, status: res.status, code: res.body.code }).toEqual({ what, status, code });
        expectErrorShape(res.body, code, status);
        if (code === 'validation_failed') expect(fieldsOf(res)).toEqual(['csrPem']);
      }
      // At the limits: a 64-character CN and 100 SANs are issued, and openssl reads them back.
      const hundred = `subjectAltName=${Array.from({ length: 100 }, (_, i) => `DNS:h${i}.example.test`).join(',')}`;
      const ok = await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: keyAndCsr(P256, `/CN=${'a'.repeat(64)}`, ['-addext', hundred]).csrPem }).expect(201);
      const pem = (await api().get(`/api/v1/certificates/${ok.body.certificate.id}`).expect(200)).body.certificate.certificatePem;
      const file = `limits-${++files}.pem`;
      writeFileSync(join(dir, file), pem);
      const text = openssl('x509', '-in', file, '-noout', '-subject', '-ext', 'subjectAltName');
      expect(text).toContain(`CN = ${'a'.repeat(64)}`);
      expect(text.match(/DNS:/g)).toHaveLength(100);
    });
  });

  it('refuses anyExtendedKeyUsage for a leaf, by OID or by name, with 400 naming extendedKeyUsage', async () => {
    const caId = (await createCa('EKU Root')).id;
    for (const extendedKeyUsage of [['2.5.29.37.0'], ['anyExtendedKeyUsage'], ['serverAuth', '2.5.29.37.0']]) {
      for (const body of [{ caId, commonName: 'eku.example.test', extendedKeyUsage }, { caId, commonName: 'eku.example.test', usage: 'custom', extendedKeyUsage }]) {
        const res = await api().post('/api/v1/certificates', body);
        expect({ extendedKeyUsage, status: res.status, code: res.body.code, fields: fieldsOf(res) })
          .toEqual({ extendedKeyUsage, status: 400, code: 'validation_failed', fields: ['extendedKeyUsage'] });
      }
    }
    const batch = await api().post('/api/v1/certificates/batch', { items: [{ caId, commonName: 'x.example.test', extendedKeyUsage: ['2.5.29.37.0'] }] }).expect(201);
    expect(batch.body.errors.map((e: { code: string }) => e.code)).toEqual(['validation_failed']);
    await api().post('/api/v1/certificates', { caId, commonName: 'eku.example.test', extendedKeyUsage: ['serverAuth', '1.3.6.1.5.5.7.3.2'] }).expect(201);
  });

  it('refuses API key permissions whose keys are not CAs of the org, naming permissions.<key>', async () => {
    const caId = (await createCa('Permissions Root')).id;
    const otherOrg = (await createOrg(gateway, 'Foreign org')).adminKey;
    const foreignCa = (await api(otherOrg).post('/api/v1/cas', { name: 'Foreign', subject: { commonName: 'Foreign' } }).expect(201)).body.ca.id;
    const raw = (json: string) => request(http).post('/api/v1/api-keys').set(bearer(adminKey)).set('Content-Type', 'application/json').send(json);
    const grant = '{"read":true,"issue":true}';
    const cases: [string, string][] = [
      [`{"name":"k","role":"member","permissions":{"__proto__":${grant}}}`, 'permissions.__proto__'],
      [`{"name":"k","role":"member","permissions":{"constructor":${grant}}}`, 'permissions.constructor'],
      [`{"name":"k","role":"member","permissions":{"${caId}":${grant},"__proto__":${grant}}}`, 'permissions.__proto__'],
      [`{"name":"k","role":"member","permissions":{"not-a-ca":${grant}}}`, 'permissions.not-a-ca'],
      [`{"name":"k","role":"member","permissions":{"${foreignCa}":${grant}}}`, `permissions.${foreignCa}`],
    ];
    const before = (await db.query(`SELECT count(*)::int AS n FROM api_keys`)).rows[0].n;
    for (const [body, field] of cases) {
      const res = await raw(body);
      expect({ body, status: res.status, code: res.body.code, fields: fieldsOf(res) }).toEqual({ body, status: 400, code: 'validation_failed', fields: [field] });
    }
    expect((await db.query(`SELECT count(*)::int AS n FROM api_keys`)).rows[0].n).toBe(before);
    const ok = await raw(`{"name":"k","role":"member","permissions":{"${caId}":${grant}}}`).expect(201);
    expect(ok.body.apiKey.permissions).toEqual({ [caId]: { read: true, issue: true } });
  });

  it('revokes the platform keys a revoked platform key minted, transitively, at once on every replica', async () => {
    const other = await startGateway();
    try {
      const mint = async (by: string) => (await request(http).post('/api/v1/platform/api-keys').set(bearer(by)).send({ name: 'minted' }).expect(201)).body;
      const first = await mint(TEST_ADMIN_KEY);
      const second = await mint(first.key);
      const third = await mint(second.key);
      const sideline = await mint(TEST_ADMIN_KEY);
      const all = [first, second, third, sideline];
      // Every key in the other replica's cache first.
      for (const k of all) await request(other.getHttpServer()).get('/api/v1/platform/orgs').set(bearer(k.key)).expect(200);

      await request(http).delete(`/api/v1/platform/api-keys/${first.apiKey.id}`).set(bearer(TEST_ADMIN_KEY)).expect(204);
      for (const k of [first, second, third]) await request(http).get('/api/v1/platform/orgs').set(bearer(k.key)).expect(401);
      // The other replica hears of each over Redis pub/sub, as of any revocation (access.e2e-spec).
      for (const k of [first, second, third]) {
        let status = 0;
        for (let i = 0; i < 20 && status !== 401; i++) {
          status = (await request(other.getHttpServer()).get('/api/v1/platform/orgs').set(bearer(k.key))).status;
          if (status !== 401) await sleep(50);
        }
        expect(status).toBe(401);
      }
      await request(other.getHttpServer()).get('/api/v1/platform/orgs').set(bearer(sideline.key)).expect(200);
      const rows = (await db.query(`SELECT id, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = ANY($1::uuid[])`, [all.map((k) => k.apiKey.id)])).rows;
      expect(Object.fromEntries(rows.map((r) => [r.id, r.revoked]))).toEqual({
        [first.apiKey.id]: true, [second.apiKey.id]: true, [third.apiKey.id]: true, [sideline.apiKey.id]: false,
      });
      // An org's admin key, made at the org's creation with a platform key, is not a platform key: it stays.
      const maker = await mint(TEST_ADMIN_KEY);
      const org = (await request(http).post('/api/v1/platform/orgs').set(bearer(maker.key)).send({ name: 'By key', slug: uniqueSlug() }).expect(201)).body;
      await request(http).delete(`/api/v1/platform/api-keys/${maker.apiKey.id}`).set(bearer(TEST_ADMIN_KEY)).expect(204);
      await request(http).get('/api/v1/whoami').set(bearer(org.adminKey)).expect(200);
    } finally {
      await other.close();
    }
  });

  it('answers /pki/cas/:id for any case of the id from one cache entry: one CRL read, one ca.crt entry', async () => {
    const ca = await createCa('Case Root');
    const store = gateway.get(PkiStore);
    const crlReads = async () => {
      const text = (await request(http).get('/metrics').expect(200)).text;
      return Number(/^signet_pki_crl_reads_total (\d+)/m.exec(text)?.[1] ?? 0);
    };
    // Variant k upper-cases the letters whose index (among the id's letters) has bit (index % 4) of k set.
    const variants = Array.from({ length: 10 }, (_, k) => {
      let letter = 0;
      return ca.id.replace(/[a-f]/g, (c) => ((k >> (letter++ % 4)) & 1 ? c.toUpperCase() : c));
    });
    variants[0] = ca.id.toUpperCase();
    expect(new Set(variants).size).toBe(10);

    const readsBefore = await crlReads();
    const entriesBefore = store.caCacheUsage().entries;
    const crls = new Set<string>();
    const certs = new Set<string>();
    for (const id of variants) {
      crls.add((await request(http).get(`/pki/cas/${id}/crl`).buffer(true).parse(binary).expect(200)).body.toString('hex'));
      certs.add((await request(http).get(`/pki/cas/${id}/ca.crt`).buffer(true).parse(binary).expect(200)).body.toString('hex'));
    }
    expect({ crls: crls.size, certs: certs.size }).toEqual({ crls: 1, certs: 1 });
    expect((await crlReads()) - readsBefore).toBeLessThanOrEqual(1);
    expect(store.caCacheUsage().entries - entriesBefore).toBe(1);
    // What no CA has is no entry at all.
    await request(http).get(`/pki/cas/${ca.id.replace(/^./, (c) => (c === '0' ? '1' : '0'))}/ca.crt`).expect(404);
    expect(store.caCacheUsage().entries - entriesBefore).toBe(1);
    // And openssl reads the bytes: the CRL is the CA's.
    writeFileSync(join(dir, 'case.crl'), Buffer.from([...crls][0], 'hex'));
    expect(openssl('crl', '-inform', 'DER', '-in', 'case.crl', '-noout', '-issuer')).toContain('Case Root');
  });
});

/** A response body as bytes (supertest parses only text and JSON on its own). */
function binary(res: request.Response, callback: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}
