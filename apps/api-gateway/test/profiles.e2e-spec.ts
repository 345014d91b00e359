/**
 * Certificate profiles (API.md section 5) against the real stack (the gateway, a built signer for the
 * CAs, PostgreSQL, Redis): CRUD, each input rule at its edge, slugs unique among live profiles, who may
 * read and write, nothing written on a refusal, and enrollment policies naming a profile.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import { Client } from 'pg';
import request from 'supertest';
import { TEST_ADMIN_KEY, withKey, createKey, createOrg, expectErrorShape, startGateway, startSigner } from './support';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe('certificate profiles', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let orgId: string;
  let adminKey: string;
  let rootId: string;
  let caId: string;
  let otherCaId: string;
  let revokedCaId: string;
  let foreignAdminKey: string;
  let foreignCaId: string;

  const api = (key = adminKey) => withKey(http, key);
  let slugs = 0;
  const nextSlug = () => `p-${++slugs}`;
  /** A valid create body for `caId`, with `extra` on top. */
  const body = (extra: Record<string, unknown> = {}) => ({ name: 'Web servers', slug: nextSlug(), caId, ...extra });
  const create = async (extra: Record<string, unknown> = {}) => (await api().post('/api/v1/profiles', body(extra)).expect(201)).body.profile;
  const fieldsOf = (res: request.Response) => (res.body.details?.fields ?? []).map((f: { field: string }) => f.field).sort();
  const rows = async () => Number((await db.query('SELECT count(*) AS n FROM profiles WHERE org_id = $1', [orgId])).rows[0].n);
  /** A refused create: 400 validation_failed naming exactly `fields`, and no row written. */
  const refused = async (extra: Record<string, unknown>, fields: string[]) => {
    const before = await rows();
    const res = await api().post('/api/v1/profiles', body(extra));
    expect({ extra, status: res.status, fields: fieldsOf(res) }).toEqual({ extra, status: 400, fields: [...fields].sort() });
    expectErrorShape(res.body, 'validation_failed', 400);
    expect(await rows()).toBe(before);
    return res;
  };

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const org = await createOrg(gateway, 'Profiles org');
    orgId = org.org.id;
    adminKey = org.adminKey;
    const ca = async (key: string, extra: object) => (await api(key).post('/api/v1/cas', { subject: { commonName: 'Profiles CA' }, ...extra }).expect(201)).body.ca.id as string;
    rootId = await ca(adminKey, { name: 'Root' });
    caId = await ca(adminKey, { name: 'Web', parentCaId: rootId });
    otherCaId = await ca(adminKey, { name: 'Devices', parentCaId: rootId });
    revokedCaId = await ca(adminKey, { name: 'Gone', parentCaId: rootId });
    await api().post(`/api/v1/cas/${revokedCaId}/revoke`, { reason: 'cessationOfOperation' }).expect(200);
    const foreign = await createOrg(gateway, 'Other org');
    foreignAdminKey = foreign.adminKey;
    foreignCaId = await ca(foreignAdminKey, { name: 'Theirs' });
  });
  afterAll(async () => {
    await db.end();
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  it('creates with the defaults, lists, gets, updates and soft-deletes, each change audited', async () => {
    const created = await api().post('/api/v1/profiles', { name: 'Web servers', slug: 'web', caId }).expect(201);
    const profile = created.body.profile;
    expect(profile).toEqual({
      id: expect.any(String), name: 'Web servers', slug: 'web', caId, description: null, environment: null, allowedDomains: [],
      allowWildcards: true, allowIpSans: true, allowedKeyAlgorithms: [], defaultValidityDays: 90, maxValidityDays: 397, usage: 'server',
      extendedKeyUsage: null, requireApproval: false, approvalTtlHours: 72, acmeEabRequired: true, createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    const path = `/api/v1/profiles/${profile.id}`;
    expect((await api().get(path).expect(200)).body).toEqual({ profile });
    const second = await create({ name: 'Devices', caId: otherCaId });
    const list = await api().get('/api/v1/profiles').expect(200);
    expect(list.body).toMatchObject({ total: 2, page: 1, pageSize: 20, totalPages: 1 });
    expect(list.body.profiles.map((p: { id: string }) => p.id)).toEqual([profile.id, second.id]);

    const patched = await api().patch(path, {
      name: 'Public web', description: 'the public sites', environment: 'production', allowedDomains: ['Example.COM', '*.svc.example.com.', 'example.com'],
      allowWildcards: false, allowIpSans: false, allowedKeyAlgorithms: ['ECDSA-P256', 'RSA-2048', 'ECDSA-P256'], defaultValidityDays: 30,
      maxValidityDays: 90, usage: 'server-client', requireApproval: true, approvalTtlHours: 24,
    }).expect(200);
    expect(patched.body.profile).toEqual({
      ...profile, name: 'Public web', description: 'the public sites', environment: 'production', allowedDomains: ['example.com', '*.svc.example.com'],
      allowWildcards: false, allowIpSans: false, allowedKeyAlgorithms: ['ECDSA-P256', 'RSA-2048'], defaultValidityDays: 30, maxValidityDays: 90,
      usage: 'server-client', requireApproval: true, approvalTtlHours: 24, updatedAt: expect.any(String),
    });
    expect(Date.parse(patched.body.profile.updatedAt)).toBeGreaterThan(Date.parse(profile.updatedAt));
    expect((await api().get(path).expect(200)).body.profile).toEqual(patched.body.profile);
    // null clears the nullable fields; a PATCH of one field leaves the others.
    const cleared = await api().patch(path, { description: null, environment: null }).expect(200);
    expect(cleared.body.profile).toMatchObject({ description: null, environment: null, name: 'Public web', maxValidityDays: 90 });

    await api().delete(path).expect(204);
    expectErrorShape((await api().get(path).expect(404)).body, 'not_found', 404);
    await api().delete(path).expect(404);
    await api().patch(path, { name: 'again' }).expect(404);
    expect((await api().get('/api/v1/profiles').expect(200)).body).toMatchObject({ total: 1, profiles: [{ id: second.id }] });
    // Soft: the row stays, with deleted_at set.
    const row = (await db.query('SELECT deleted_at FROM profiles WHERE id = $1', [profile.id])).rows[0];
    expect(row.deleted_at).toBeInstanceOf(Date);

    const audit = await api().get(`/api/v1/audit?eventType=profile.&outcome=success&resourceId=${profile.id}`).expect(200);
    expect(audit.body.events.map((e: { eventType: string }) => e.eventType).sort()).toEqual(['profile.create', 'profile.delete', 'profile.update', 'profile.update']);
    const update = audit.body.events.find((e: { eventType: string; details: { changed: string[] } }) => e.eventType === 'profile.update' && e.details.changed.length > 2);
    expect(update.details.changed).toEqual(expect.arrayContaining(['name', 'allowedDomains', 'maxValidityDays']));
    await api().delete(`/api/v1/profiles/${second.id}`).expect(204);
  });

  it('bounds the validity days at their edges, default never above max (also against the stored values)', async () => {
    expect(await create({ defaultValidityDays: 397, maxValidityDays: 397 })).toMatchObject({ defaultValidityDays: 397, maxValidityDays: 397 });
    expect(await create({ defaultValidityDays: 1, maxValidityDays: 1 })).toMatchObject({ defaultValidityDays: 1, maxValidityDays: 1 });
    await refused({ defaultValidityDays: 398 }, ['defaultValidityDays']);
    await refused({ defaultValidityDays: 398, maxValidityDays: 398 }, ['defaultValidityDays', 'maxValidityDays']);
    await refused({ defaultValidityDays: 0 }, ['defaultValidityDays']);
    await refused({ maxValidityDays: 0 }, ['maxValidityDays']);
    await refused({ defaultValidityDays: 1.5, maxValidityDays: '90' }, ['defaultValidityDays', 'maxValidityDays']);
    const both = await refused({ defaultValidityDays: 100, maxValidityDays: 90 }, ['defaultValidityDays', 'maxValidityDays']);
    expect(both.body.details.fields[0].messages[0]).toMatch(/100.*90/);
    // The default of 90 is above a max of 60 given alone.
    await refused({ maxValidityDays: 60 }, ['defaultValidityDays', 'maxValidityDays']);

    const profile = await create();
    const path = `/api/v1/profiles/${profile.id}`;
    const patchRefused = async (patch: object, fields: string[]) => {
      const res = await api().patch(path, patch).expect(400);
      expect(fieldsOf(res)).toEqual([...fields].sort());
      expect((await api().get(path)).body.profile).toEqual(profile);
    };
    await patchRefused({ maxValidityDays: 60 }, ['defaultValidityDays', 'maxValidityDays']);
    await patchRefused({ defaultValidityDays: 398 }, ['defaultValidityDays']);
    await patchRefused({ maxValidityDays: null }, ['maxValidityDays']);
    expect((await api().patch(path, { maxValidityDays: 60, defaultValidityDays: 60 }).expect(200)).body.profile).toMatchObject({ defaultValidityDays: 60, maxValidityDays: 60 });
    const res = await api().patch(path, { defaultValidityDays: 61 }).expect(400);
    expect(fieldsOf(res)).toEqual(['defaultValidityDays', 'maxValidityDays']);
  });

  it('bounds approvalTtlHours to 1..8760 and checks the key algorithms', async () => {
    expect(await create({ approvalTtlHours: 1 })).toMatchObject({ approvalTtlHours: 1 });
    expect(await create({ approvalTtlHours: 8760 })).toMatchObject({ approvalTtlHours: 8760 });
    await refused({ approvalTtlHours: 0 }, ['approvalTtlHours']);
    await refused({ approvalTtlHours: 8761 }, ['approvalTtlHours']);
    expect(await create({ allowedKeyAlgorithms: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] })).toMatchObject({
      allowedKeyAlgorithms: ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'],
    });
    await refused({ allowedKeyAlgorithms: ['ECDSA-P256', 'DSA'] }, ['allowedKeyAlgorithms']);
    await refused({ allowedKeyAlgorithms: ['ecdsa-p256'] }, ['allowedKeyAlgorithms']);
    await refused({ allowedKeyAlgorithms: 'ECDSA-P256' }, ['allowedKeyAlgorithms']);
  });

  it('takes DNS names and wildcards over one as allowedDomains, lowercased, and nothing else', async () => {
    expect(await create({ allowedDomains: ['Example.COM', '*.SVC.example.com', 'localhost', 'xn--bcher-kva.example'] })).toMatchObject({
      allowedDomains: ['example.com', '*.svc.example.com', 'localhost', 'xn--bcher-kva.example'],
    });
    const hundred = Array.from({ length: 100 }, (_, i) => `host${i}.example.com`);
    expect((await create({ allowedDomains: hundred })).allowedDomains).toEqual(hundred);
    for (const bad of ['*.com', '*', 'a.*.example.com', '*example.com', '**.example.com', '10.0.0.1', '::1', '[::1]', 'exa mple.com', '', '-a.example.com',
      'bücher.example', 'a'.repeat(64) + '.example.com', 'example.com/path', 'user@example.com', 1, null, {}]) {
      const res = await refused({ allowedDomains: ['ok.example.com', bad] }, ['allowedDomains']);
      expect(res.body.details.fields[0].messages.join(' ')).toMatch(/allowedDomains/);
    }
    await refused({ allowedDomains: [...hundred, 'one-more.example.com'] }, ['allowedDomains']);
    await refused({ allowedDomains: 'example.com' }, ['allowedDomains']);
    await refused({ allowedDomains: null }, ['allowedDomains']);
  });

  it('takes the usage labels of issuance; another label is kept as given, with its extendedKeyUsage or none (then serverAuth)', async () => {
    for (const usage of ['server', 'client', 'api-mtls', 'vpn', 'server-client', 'email', 'code-signing']) expect(await create({ usage })).toMatchObject({ usage, extendedKeyUsage: null });
    expect(await create({ usage: 'teleport', extendedKeyUsage: ['clientAuth', '1.3.6.1.5.5.7.3.2', 'clientAuth'] })).toMatchObject({
      usage: 'teleport', extendedKeyUsage: ['clientAuth', '1.3.6.1.5.5.7.3.2'],
    });
    // A custom label without an EKU is stored as a label (issued with serverAuth, as `server`).
    expect(await create({ usage: 'teleport' })).toMatchObject({ usage: 'teleport', extendedKeyUsage: null });
    expect(await create({ usage: 'teleport', extendedKeyUsage: [] })).toMatchObject({ usage: 'teleport', extendedKeyUsage: null });
    await refused({ extendedKeyUsage: ['serverAuth', 'bogus'] }, ['extendedKeyUsage']);
    await refused({ extendedKeyUsage: [5] }, ['extendedKeyUsage']);
    await refused({ usage: '' }, ['usage']);

    const profile = await create({ usage: 'teleport', extendedKeyUsage: ['clientAuth'] });
    const path = `/api/v1/profiles/${profile.id}`;
    expect((await api().patch(path, { extendedKeyUsage: null }).expect(200)).body.profile).toMatchObject({ usage: 'teleport', extendedKeyUsage: null });
    expect((await api().patch(path, { usage: 'client', extendedKeyUsage: null }).expect(200)).body.profile).toMatchObject({ usage: 'client', extendedKeyUsage: null });
    expect((await api().patch(path, { usage: 'sidecar' }).expect(200)).body.profile).toMatchObject({ usage: 'sidecar', extendedKeyUsage: null });
    expect(fieldsOf(await api().patch(path, { extendedKeyUsage: ['brewing'] }).expect(400))).toEqual(['extendedKeyUsage']);
  });

  it('keeps slugs unique among the live profiles of an org', async () => {
    for (const slug of ['Upper', '-a', 'a-', 'a_b', 'a.b', 'a'.repeat(64), '', 'ü']) await refused({ slug }, ['slug']);
    const long = 'a'.repeat(63);
    const first = await create({ slug: long });
    const before = await rows();
    const again = await api().post('/api/v1/profiles', body({ slug: long })).expect(409);
    expectErrorShape(again.body, 'conflict', 409);
    expect(await rows()).toBe(before);
    // Another org may use the slug.
    await api(foreignAdminKey).post('/api/v1/profiles', { name: 'Theirs', slug: long, caId: foreignCaId }).expect(201);
    // A PATCH onto a taken slug: 409, nothing changed.
    const other = await create({ slug: 'taken-b' });
    await api().patch(`/api/v1/profiles/${other.id}`, { slug: long }).expect(409);
    expect((await api().get(`/api/v1/profiles/${other.id}`)).body.profile.slug).toBe('taken-b');
    // Deleting frees it.
    await api().delete(`/api/v1/profiles/${first.id}`).expect(204);
    const reused = await create({ slug: long });
    expect(reused.id).not.toBe(first.id);
    // Two creates racing for one slug: one profile.
    const race = await Promise.all([0, 1].map(() => api().post('/api/v1/profiles', body({ slug: 'raced' }))));
    expect(race.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it("refuses a CA that is not the org's or is revoked, as a bad field (400), and never changes a profile's CA", async () => {
    for (const [id, message] of [[foreignCaId, /no certificate authority of this org/], [UNKNOWN_ID, /no certificate authority of this org/], [revokedCaId, /the CA is revoked/]] as const) {
      const res = await refused({ caId: id }, ['caId']);
      expect(res.body.details.fields[0].messages[0]).toMatch(message);
    }
    await refused({ caId: 'not-a-uuid' }, ['caId']);
    await refused({ caId: undefined }, ['caId']);
    // Every bad field at once, the CA's among them when the rest pass the per-field rules.
    await refused({ caId: foreignCaId, defaultValidityDays: 100, maxValidityDays: 90, usage: 'x', extendedKeyUsage: ['brewing'] }, ['caId', 'defaultValidityDays', 'maxValidityDays', 'extendedKeyUsage']);

    const profile = await create();
    const path = `/api/v1/profiles/${profile.id}`;
    for (const value of [otherCaId, caId, null]) {
      const res = await api().patch(path, { caId: value, name: 'moved' }).expect(400);
      expect(fieldsOf(res)).toEqual(['caId']);
      expect(res.body.details.fields[0].messages[0]).toMatch(/caId cannot be changed/);
    }
    expect((await api().get(path)).body.profile).toEqual(profile);
  });

  it('lets member keys read the profiles of CAs they may read, and only admins write', async () => {
    const mine = await create({ slug: 'members-web' });
    const theirs = await create({ slug: 'members-devices', caId: otherCaId });
    const reader = (await createKey(gateway, adminKey, { name: 'reader', role: 'member', permissions: { [caId]: { read: true, issue: true, revoke: true } } })).key;
    const nobody = (await createKey(gateway, adminKey, { name: 'nobody', role: 'member' })).key;

    const listed = (await api(reader).get('/api/v1/profiles?pageSize=1000').expect(200)).body.profiles.map((p: { caId: string }) => p.caId);
    expect(listed).toContain(caId);
    expect(listed).not.toContain(otherCaId);
    expect((await api(reader).get(`/api/v1/profiles/${mine.id}`).expect(200)).body.profile).toEqual(mine);
    await api(reader).get(`/api/v1/profiles/${theirs.id}`).expect(404);
    expect((await api(nobody).get('/api/v1/profiles').expect(200)).body).toMatchObject({ profiles: [], total: 0 });
    await api(nobody).get(`/api/v1/profiles/${mine.id}`).expect(404);

    const before = await rows();
    expectErrorShape((await api(reader).post('/api/v1/profiles', body()).expect(403)).body, 'forbidden', 403);
    await api(reader).patch(`/api/v1/profiles/${mine.id}`, { name: 'x' }).expect(403);
    await api(reader).delete(`/api/v1/profiles/${mine.id}`).expect(403);
    expect(await rows()).toBe(before);
    expect((await api(reader).get(`/api/v1/profiles/${mine.id}`)).body.profile).toEqual(mine);

    // The platform admin is no org's; another org's admin sees nothing of this org.
    await api(TEST_ADMIN_KEY).get('/api/v1/profiles').expect(403);
    await api(foreignAdminKey).get(`/api/v1/profiles/${mine.id}`).expect(404);
    await api(foreignAdminKey).patch(`/api/v1/profiles/${mine.id}`, { name: 'x' }).expect(404);
    await api(foreignAdminKey).delete(`/api/v1/profiles/${mine.id}`).expect(404);
    expect((await api(foreignAdminKey).get('/api/v1/profiles?pageSize=1000')).body.profiles.map((p: { id: string }) => p.id)).not.toContain(mine.id);
    await api().get(`/api/v1/profiles/${mine.id}`).expect(200);
    await api().get('/api/v1/profiles/not-a-uuid').expect(404);
  });

  it('answers hostile input with a 400, never a 500, and writes nothing', async () => {
    const hostile: Record<string, unknown>[] = [
      { name: 'a\u0000b' }, { description: 'x\u0000' }, { environment: 'prod\u0000' }, { name: 'a\ud800b' }, { name: 'line\nbreak' },
      { name: 'x'.repeat(100_000) }, { description: 'x'.repeat(100_000) }, { slug: 'x'.repeat(100_000) },
      { allowedDomains: ['x'.repeat(100_000)] }, { allowedDomains: Array.from({ length: 5000 }, () => 'a.example.com') },
      { name: 5 }, { name: ['a'] }, { slug: {} }, { allowWildcards: 'yes' }, { allowIpSans: 1 }, { requireApproval: null },
      { defaultValidityDays: '90' }, { approvalTtlHours: 1e308 }, { allowedDomains: [['a.example.com']] }, { extendedKeyUsage: 'serverAuth' },
      { usage: 'server\u0000' }, { surprise: true },
    ];
    const before = await rows();
    for (const extra of hostile) {
      const res = await api().post('/api/v1/profiles', body(extra));
      expect({ extra: JSON.stringify(extra).slice(0, 60), status: res.status }).toEqual({ extra: JSON.stringify(extra).slice(0, 60), status: 400 });
      expect(res.body.code).toMatch(/^(validation_failed|bad_request)$/);
    }
    expect(await rows()).toBe(before);
    const profile = await create();
    for (const extra of hostile) {
      const res = await api().patch(`/api/v1/profiles/${profile.id}`, extra);
      expect({ extra: JSON.stringify(extra).slice(0, 60), status: res.status }).toEqual({ extra: JSON.stringify(extra).slice(0, 60), status: 400 });
    }
    await api().patch(`/api/v1/profiles/${profile.id}`, []).expect(400);
    await api().patch(`/api/v1/profiles/${profile.id}`, { name: null }).expect(400);
    expect((await api().get(`/api/v1/profiles/${profile.id}`)).body.profile).toEqual(profile);
  });

  it('stores and answers the profileId of an enrollment policy: a live profile of the issuing CA', async () => {
    const profile = await create({ usage: 'client' });
    const post = (extra: object) => api().post('/api/v1/enrollment-policies', { name: 'Sensors', trustedCaIds: [rootId], issuingCaId: caId, subjectRule: 'any', ...extra });
    const withProfile = await post({ profileId: profile.id.toUpperCase() }).expect(201);
    expect(withProfile.body.policy).toMatchObject({ issuingCaId: caId, profileId: profile.id });
    expect((await post({}).expect(201)).body.policy.profileId).toBeNull();
    const listed = (await api().get('/api/v1/enrollment-policies?pageSize=1000').expect(200)).body.policies;
    expect(listed.find((p: { id: string }) => p.id === withProfile.body.policy.id)).toMatchObject({ profileId: profile.id });

    const policies = async () => Number((await db.query('SELECT count(*) AS n FROM enrollment_policies WHERE org_id = $1', [orgId])).rows[0].n);
    const before = await policies();
    const ofOtherCa = await create({ caId: otherCaId });
    const deleted = await create();
    await api().delete(`/api/v1/profiles/${deleted.id}`).expect(204);
    const foreign = (await api(foreignAdminKey).post('/api/v1/profiles', { name: 'Theirs', slug: 'enroll-theirs', caId: foreignCaId }).expect(201)).body.profile;
    for (const profileId of [ofOtherCa.id, deleted.id, foreign.id, UNKNOWN_ID, 'web', 5]) {
      const res = await post({ profileId }).expect(400);
      expect(fieldsOf(res)).toEqual(['profileId']);
    }
    expect(await policies()).toBe(before);
  });
});
