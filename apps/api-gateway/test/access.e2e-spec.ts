import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { TEST_ADMIN_KEY, bearer, createKey, createOrg, expectErrorShape, sleep, startGateway, uniqueSlug } from './support';

/** Insert a CA row straight into the database: CA creation is the signer's job, tested elsewhere. */
async function insertCa(orgId: string, name: string): Promise<string> {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const id = randomUUID();
    await client.query(
      `INSERT INTO cas (id, org_id, name, type, depth, subject, common_name, key_algorithm, serial_number,
         fingerprint_sha256, key_hash_sha1, certificate_der, encrypted_key, valid_from, valid_to)
       VALUES ($1, $2, $3, 'root', 0, '{}', $3, 'ECDSA-P256', '01', $4, '\\x00', '\\x00', '\\x00', now(), now() + interval '1 year')`,
      [id, orgId, name, randomUUID()],
    );
    return id;
  } finally {
    await client.end();
  }
}

describe('access layer (real PostgreSQL and Redis)', () => {
  let app: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let orgA: { org: { id: string }; adminKey: string };
  let orgB: { org: { id: string }; adminKey: string };

  beforeAll(async () => {
    app = await startGateway();
    http = app.getHttpServer();
    orgA = await createOrg(app, 'Org A');
    orgB = await createOrg(app, 'Org B');
  });
  afterAll(() => app.close());

  describe('authentication', () => {
    it.each([
      ['missing', undefined, /missing API key/],
      ['not a bearer header', 'Basic abc', /malformed Authorization/],
      ['malformed key', 'Bearer sgn_nothex_short', /malformed API key/],
      ['unknown key', `Bearer sgn_0123456789abcdef_${'A'.repeat(43)}`, /unknown API key/],
    ])('answers 401 for a %s key', async (_case, header, message) => {
      const req = request(http).get('/api/v1/whoami');
      if (header) req.set('Authorization', header);
      const res = await req.expect(401);
      expectErrorShape(res.body, 'unauthorized', 401);
      expect(res.body.error).toMatch(message);
    });

    it('answers 401 for a right key id with a wrong secret', async () => {
      const { key } = await createKey(app, orgA.adminKey, { name: 'victim', role: 'member' });
      const forged = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      await request(http).get('/api/v1/whoami').set(bearer(forged)).expect(401);
    });

    it('answers 401 for a revoked key at once, also on a second replica that had it cached', async () => {
      const other = await startGateway();
      try {
        const { apiKey, key } = await createKey(app, orgA.adminKey, { name: 'to revoke', role: 'member' });
        await request(other.getHttpServer()).get('/api/v1/whoami').set(bearer(key)).expect(200);
        await request(http).delete(`/api/v1/api-keys/${apiKey.id}`).set(bearer(orgA.adminKey)).expect(204);
        await request(http).get('/api/v1/whoami').set(bearer(key)).expect(401);
        // The other replica hears of it over Redis pub/sub; allow it a moment, far below a second.
        let status = 0;
        for (let i = 0; i < 20 && status !== 401; i++) {
          status = (await request(other.getHttpServer()).get('/api/v1/whoami').set(bearer(key))).status;
          if (status !== 401) await sleep(50);
        }
        expect(status).toBe(401);
        const res = await request(other.getHttpServer()).get('/api/v1/whoami').set(bearer(key)).expect(401);
        expect(res.body.error).toMatch(/revoked/);
      } finally {
        await other.close();
      }
    });

    it('answers 401 for an expired key', async () => {
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const { key } = await createKey(app, orgA.adminKey, { name: 'short-lived', role: 'member', expiresAt });
      await request(http).get('/api/v1/whoami').set(bearer(key)).expect(200);
      await sleep(1600);
      const res = await request(http).get('/api/v1/whoami').set(bearer(key)).expect(401);
      expect(res.body.error).toMatch(/expired/);
    });

    it('refuses an expiresAt in the past', async () => {
      const res = await request(http)
        .post('/api/v1/api-keys')
        .set(bearer(orgA.adminKey))
        .send({ name: 'x', role: 'member', expiresAt: '2001-01-01T00:00:00Z' })
        .expect(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.details.fields[0].field).toBe('expiresAt');
    });
  });

  describe('platform', () => {
    it('creates an org with a working first admin key, shown once', async () => {
      const slug = uniqueSlug();
      const res = await request(http).post('/api/v1/platform/orgs').set(bearer(TEST_ADMIN_KEY)).send({ name: 'Acme', slug }).expect(201);
      expect(res.body.org).toEqual({ id: expect.any(String), name: 'Acme', slug, createdAt: expect.any(String) });
      expect(res.body.adminKey).toMatch(/^sgn_[0-9a-f]{16}_[0-9A-Za-z]{43}$/);
      const who = await request(http).get('/api/v1/whoami').set(bearer(res.body.adminKey)).expect(200);
      expect(who.body.org.id).toBe(res.body.org.id);
      expect(who.body.apiKey.role).toBe('admin');
      expect(JSON.stringify(who.body)).not.toContain(res.body.adminKey.split('_')[2]);
    });

    it('lists and gets orgs, 404 for an unknown one', async () => {
      const list = await request(http).get('/api/v1/platform/orgs?pageSize=5000').set(bearer(TEST_ADMIN_KEY)).expect(200);
      expect(list.body).toMatchObject({ page: 1, pageSize: 1000, total: expect.any(Number), totalPages: expect.any(Number) });
      expect(list.body.orgs.map((o: { id: string }) => o.id)).toEqual(expect.arrayContaining([orgA.org.id, orgB.org.id]));
      await request(http).get(`/api/v1/platform/orgs/${orgA.org.id}`).set(bearer(TEST_ADMIN_KEY)).expect(200);
      const missing = await request(http).get(`/api/v1/platform/orgs/${randomUUID()}`).set(bearer(TEST_ADMIN_KEY)).expect(404);
      expectErrorShape(missing.body, 'not_found', 404);
    });

    it('answers 409 for a taken slug and validation_failed for bad fields', async () => {
      const slug = uniqueSlug();
      await request(http).post('/api/v1/platform/orgs').set(bearer(TEST_ADMIN_KEY)).send({ name: 'One', slug }).expect(201);
      const dup = await request(http).post('/api/v1/platform/orgs').set(bearer(TEST_ADMIN_KEY)).send({ name: 'Two', slug }).expect(409);
      expectErrorShape(dup.body, 'conflict', 409);
      const bad = await request(http)
        .post('/api/v1/platform/orgs')
        .set(bearer(TEST_ADMIN_KEY))
        .send({ name: 42, slug: 'Not A Slug', extra: true })
        .expect(400);
      expect(bad.body.code).toBe('validation_failed');
      expect(bad.body.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['extra', 'name', 'slug']);
    });

    it('makes platform keys that act as the platform admin and can be revoked', async () => {
      const created = await request(http).post('/api/v1/platform/api-keys').set(bearer(TEST_ADMIN_KEY)).send({ name: 'ops' }).expect(201);
      const key = created.body.key;
      await request(http).get('/api/v1/platform/orgs').set(bearer(key)).expect(200);
      const who = await request(http).get('/api/v1/whoami').set(bearer(key)).expect(200);
      expect(who.body).toMatchObject({ org: null, apiKey: { role: 'platform', name: 'ops' } });
      await request(http).delete(`/api/v1/platform/api-keys/${created.body.apiKey.id}`).set(bearer(TEST_ADMIN_KEY)).expect(204);
      await request(http).get('/api/v1/platform/orgs').set(bearer(key)).expect(401);
    });
  });

  describe('authorization', () => {
    let member: string;
    let caA1: string;
    let caA2: string;

    beforeAll(async () => {
      caA1 = await insertCa(orgA.org.id, 'A1');
      caA2 = await insertCa(orgA.org.id, 'A2');
      member = (await createKey(app, orgA.adminKey, { name: 'reader', role: 'member', permissions: { [caA1]: { read: true } } })).key;
    });

    it.each([
      ['org admin on a platform route', 'GET', '/api/v1/platform/orgs', () => orgA.adminKey],
      ['member on a platform route', 'GET', '/api/v1/platform/orgs', () => member],
      ['member creating a key', 'POST', '/api/v1/api-keys', () => member],
      ['member listing keys', 'GET', '/api/v1/api-keys', () => member],
      ['member reading the audit log', 'GET', '/api/v1/audit', () => member],
    ])('answers 403 for %s', async (_case, method, path, key) => {
      const req = method === 'GET' ? request(http).get(path) : request(http).post(path).send({ name: 'x', role: 'member' });
      const res = await req.set(bearer(key())).expect(403);
      expectErrorShape(res.body, 'forbidden', 403);
    });

    it('lets a member list and read only the CAs it may read; the rest is 404', async () => {
      const asMember = await request(http).get('/api/v1/cas').set(bearer(member)).expect(200);
      expect(asMember.body.cas.map((ca: { id: string }) => ca.id)).toEqual([caA1]);
      const asAdmin = await request(http).get('/api/v1/cas').set(bearer(orgA.adminKey)).expect(200);
      expect(asAdmin.body.cas.map((ca: { id: string }) => ca.id).sort()).toEqual([caA1, caA2].sort());
      const one = await request(http).get(`/api/v1/cas/${caA1}`).set(bearer(member)).expect(200);
      expect(one.body.ca).toMatchObject({ id: caA1, type: 'root', status: 'active', certificatePem: expect.stringContaining('BEGIN CERTIFICATE') });
      await request(http).get(`/api/v1/cas/${caA1}/chain`).set(bearer(member)).expect(200);
      expectErrorShape((await request(http).get(`/api/v1/cas/${caA2}`).set(bearer(member)).expect(404)).body, 'not_found', 404);
      await request(http).get(`/api/v1/cas/${caA2}/chain`).set(bearer(member)).expect(404);
      // Another org's admin: the CA does not exist for it.
      await request(http).get(`/api/v1/cas/${caA1}`).set(bearer(orgB.adminKey)).expect(404);
      expect((await request(http).get('/api/v1/cas').set(bearer(orgB.adminKey)).expect(200)).body.cas.map((c: { id: string }) => c.id)).not.toContain(caA1);
      // The platform key is not an org key.
      await request(http).get('/api/v1/cas').set(bearer(TEST_ADMIN_KEY)).expect(403);
    });

    it('whoami shows a member its per-CA permissions', async () => {
      const who = await request(http).get('/api/v1/whoami').set(bearer(member)).expect(200);
      expect(who.body.apiKey.role).toBe('member');
      expect(who.body.permissions).toEqual({ [caA1]: { read: true } });
    });

    it('refuses permissions on CAs of another org, or on CAs that do not exist', async () => {
      const caB = await insertCa(orgB.org.id, 'B1');
      const res = await request(http)
        .post('/api/v1/api-keys')
        .set(bearer(orgA.adminKey))
        .send({ name: 'm', role: 'member', permissions: { [caB]: { read: true }, [caA2]: { issue: true } } })
        .expect(400);
      expect(res.body.details.fields).toEqual([{ field: `permissions.${caB}`, messages: [expect.stringMatching(/no such/)] }]);
    });

    it('refuses malformed permissions', async () => {
      const cases: [unknown, string][] = [
        // A key that is no CA id is named like a CA of another org (issue 18).
        [{ 'not-a-uuid': { read: true } }, 'permissions.not-a-uuid'],
        [{ [caA1]: { read: 'yes' } }, 'permissions'],
        [{ [caA1]: { delete: true } }, 'permissions'],
        [['x'], 'permissions'],
      ];
      for (const [permissions, field] of cases) {
        const res = await request(http)
          .post('/api/v1/api-keys')
          .set(bearer(orgA.adminKey))
          .send({ name: 'm', role: 'member', permissions })
          .expect(400);
        expect(res.body.details.fields[0].field).toBe(field);
      }
    });

    it("keeps org A's keys away from org B's keys and audit log (404, never a leak)", async () => {
      const bKey = await createKey(app, orgB.adminKey, { name: 'b member', role: 'member' });
      const res = await request(http).delete(`/api/v1/api-keys/${bKey.apiKey.id}`).set(bearer(orgA.adminKey)).expect(404);
      expectErrorShape(res.body, 'not_found', 404);
      await request(http).get('/api/v1/whoami').set(bearer(bKey.key)).expect(200);
      const list = await request(http).get('/api/v1/api-keys').set(bearer(orgA.adminKey)).expect(200);
      expect(list.body.apiKeys.map((k: { id: string }) => k.id)).not.toContain(bKey.apiKey.id);
      await request(http).get(`/api/v1/audit?orgId=${orgB.org.id}`).set(bearer(orgA.adminKey)).expect(404);
      const audit = await request(http).get('/api/v1/audit?limit=1000').set(bearer(orgA.adminKey)).expect(200);
      expect(audit.body.events.every((e: { orgId: string }) => e.orgId === orgA.org.id)).toBe(true);
    });
  });
});
