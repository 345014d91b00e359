/**
 * Issuance under profiles and four-eyes approvals (API.md sections 5 and 6), through the real gateway,
 * queue and signer; the signed certificates are judged by openssl.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Clock } from '@signet/service';
import { RunningService, stopService } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway, startSigner, uniqueSlug } from './support';

const dir = mkdtempSync(join(tmpdir(), 'signet-profiles-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
/** A P-256 (or other) CSR made by openssl: `-subj` and optional SANs. */
const csr = (name: string, subject: string, sans?: string, key: string[] = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) => {
  const r = openssl('req', '-new', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, ...(sans ? ['-addext', `subjectAltName=${sans}`] : []));
  expect(r.ok).toBe(true);
  return spawnSync('cat', [join(dir, `${name}.csr`)], { encoding: 'utf8' }).stdout;
};
/** openssl's reading of a certificate PEM. */
const text = (name: string, pem: string) => {
  writeFileSync(join(dir, `${name}.pem`), pem);
  return openssl('x509', '-in', `${name}.pem`, '-noout', '-text', '-dates').out;
};
const days = (certificate: { validFrom: string; validTo: string }) => Math.round((Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000);

describe('issuance under profiles, and approvals', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let caId: string;
  let otherCaId: string;
  let db: Client;

  const post = (path: string, body: Record<string, unknown>, key = adminKey) => request(http).post(path).set(bearer(key)).send(body);
  const get = (path: string, key = adminKey) => request(http).get(path).set(bearer(key));
  const profile = async (body: Record<string, unknown>) => {
    const res = await post('/api/v1/profiles', { caId, name: 'P', slug: uniqueSlug('p'), ...body });
    if (res.status !== 201) throw new Error(`profile: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.profile;
  };
  const count = async (table: string) => Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    adminKey = (await createOrg(gateway, 'Profiles org')).adminKey;
    caId = (await post('/api/v1/cas', { name: 'Profiles root', subject: { commonName: 'Profiles Root' } }).expect(201)).body.ca.id;
    otherCaId = (await post('/api/v1/cas', { name: 'Other root', subject: { commonName: 'Other Root' } }).expect(201)).body.ca.id;
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  it("puts the profile's validity, usage and EKU into the signed certificate, and records the profile", async () => {
    const p = await profile({ environment: 'staging', defaultValidityDays: 30, maxValidityDays: 60, usage: 'server-client' });
    const res = await post('/api/v1/certificates', { profileId: p.id, commonName: 'svc.example.com' }).expect(201);
    expect(res.body.certificate).toMatchObject({ caId, profileId: p.id, environment: 'staging', usage: 'server-client', extendedKeyUsage: ['serverAuth', 'clientAuth'] });
    expect(days(res.body.certificate)).toBe(30);
    const printed = text('profile-default', res.body.certificate.certificatePem);
    expect(printed).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    // CDP and AIA come from the signer's own PUBLIC_BASE_URL.
    expect(printed).toContain(`/pki/cas/${caId}/crl`);
    expect(printed).toMatch(/OCSP - URI:http:\/\/127\.0\.0\.1:\d+\/pki\/ocsp/);
    // By slug, caId left out or equal; validity at the maximum; the list filters by profileId and dtp.
    const bySlug = await post('/api/v1/certificates', { profile: p.slug, caId, commonName: 'svc2.example.com', validityDays: 60 }).expect(201);
    expect(days(bySlug.body.certificate)).toBe(60);
    const listed = await get(`/api/v1/certificates?profileId=${p.id}`).expect(200);
    expect(listed.body.certificates.map((c: { id: string }) => c.id).sort()).toEqual([res.body.certificate.id, bySlug.body.certificate.id].sort());
    expect((await get(`/api/v1/certificates?dtp=${p.id}`).expect(200)).body.total).toBe(2);
    // A request without a profile issues under the CA's built-in default, as before.
    const plain = await post('/api/v1/certificates', { caId, commonName: 'plain.example.org' }).expect(201);
    expect(plain.body.certificate).toMatchObject({ profileId: null, environment: null, usage: 'server', extendedKeyUsage: ['serverAuth'] });
    expect(days(plain.body.certificate)).toBe(90);
  });

  it('refuses at each rule edge with details.rule, and admits just inside it', async () => {
    const p = await profile({
      allowedDomains: ['example.com', '*.svc.example.net'], allowWildcards: false, allowIpSans: false,
      allowedKeyAlgorithms: ['ECDSA-P384'], defaultValidityDays: 30, maxValidityDays: 45,
    });
    const issue = (body: Record<string, unknown>) => post('/api/v1/certificates', { profileId: p.id, keyAlgorithm: 'ECDSA-P384', ...body });
    const refused = async (body: Record<string, unknown>, rule: string) => {
      const res = await issue(body).expect(422);
      expectErrorShape(res.body, 'policy_violation', 422);
      expect(res.body.details.rule).toBe(rule);
    };
    await issue({ commonName: 'a.b.example.com', validityDays: 45 }).expect(201);
    await issue({ commonName: 'api.svc.example.net' }).expect(201);
    await refused({ commonName: 'a.svc.example.net.evil.org' }, 'allowedDomains');
    await refused({ commonName: 'x.y.svc.example.net' }, 'allowedDomains');
    await refused({ commonName: 'example.org' }, 'allowedDomains');
    await refused({ commonName: 'a.example.com', validityDays: 46 }, 'maxValidityDays');
    await refused({ commonName: '*.example.com' }, 'allowWildcards');
    await refused({ commonName: 'a.example.com', sanIp: ['10.0.0.1'] }, 'allowIpSans');
    await refused({ commonName: 'a.example.com', keyAlgorithm: 'ECDSA-P256' }, 'allowedKeyAlgorithms');
    // A managed request naming no algorithm gets one the profile allows.
    const auto = await post('/api/v1/certificates', { profileId: p.id, commonName: 'auto.example.com' }).expect(201);
    expect(auto.body.certificate.keyAlgorithm).toBe('ECDSA-P384');
    // CSR mode: the CSR's key and names face the same rules.
    await refused({ mode: 'csr', csrPem: csr('p256', '/CN=csr.example.com') }, 'allowedKeyAlgorithms');
    const p384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
    await refused({ mode: 'csr', csrPem: csr('p384-out', '/CN=csr.example.org', undefined, p384) }, 'allowedDomains');
    const ok = await issue({ mode: 'csr', csrPem: csr('p384-in', '/CN=csr.example.com', 'DNS:csr.example.com,DNS:www.example.com', p384) }).expect(201);
    expect(text('csr-in', ok.body.certificate.certificatePem)).toMatch(/DNS:csr.example.com, DNS:www.example.com/);
    // A private key pasted as the CSR is refused before it reaches the queue (it would sit in Redis).
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'pasted.key');
    const pasted = await issue({ mode: 'csr', csrPem: spawnSync('cat', [join(dir, 'pasted.key')], { encoding: 'utf8' }).stdout }).expect(400);
    expect(pasted.body.details.fields[0].field).toBe('csrPem');
    // A profile's CA, not another: 400 naming caId; an unknown or deleted profile: 404.
    const wrongCa = await issue({ caId: otherCaId, commonName: 'a.example.com' }).expect(400);
    expect(JSON.stringify(wrongCa.body.details)).toContain('caId');
    await post('/api/v1/certificates', { profileId: '00000000-0000-4000-8000-000000000000', commonName: 'a.example.com' }).expect(404);
    await request(http).delete(`/api/v1/profiles/${p.id}`).set(bearer(adminKey)).expect(204);
    await issue({ commonName: 'late.example.com' }).expect(404);
    // Its certificates keep their profile.
    expect((await get(`/api/v1/certificates/${ok.body.certificate.id}`).expect(200)).body.certificate.profileId).toBe(p.id);
  });

  it('issues batch items under different profiles, each its own way', async () => {
    const short = await profile({ defaultValidityDays: 7, usage: 'client' });
    const long = await profile({ defaultValidityDays: 200, usage: 'server' });
    const res = await post('/api/v1/certificates/batch', {
      items: [
        { profileId: short.id, commonName: 'device-7' },
        { profile: long.slug, commonName: 'web.example.com' },
        { profileId: short.id, commonName: 'device-8', usage: 'server' },
      ],
    }).expect(201);
    expect(res.body).toMatchObject({ total: 3, successful: 2, failed: 1, errors: [{ index: 2, code: 'policy_violation' }] });
    const [a, b] = res.body.certificates;
    expect(days(a.certificate)).toBe(7);
    expect(a.certificate.extendedKeyUsage).toEqual(['clientAuth']);
    expect(days(b.certificate)).toBe(200);
    expect(text('batch-b', b.certificate.certificatePem)).toMatch(/TLS Web Server Authentication/);
  });

  it('renews under the profile (REST renew and the sweep share one derivation)', async () => {
    const p = await profile({ defaultValidityDays: 20, maxValidityDays: 25, usage: 'client' });
    const first = await post('/api/v1/certificates', { profileId: p.id, commonName: 'renew-me', storeKey: true }).expect(201);
    // The profile changes: the renewal follows the profile as it is now.
    await request(http).patch(`/api/v1/profiles/${p.id}`).set(bearer(adminKey)).send({ defaultValidityDays: 25 }).expect(200);
    const renewed = await post(`/api/v1/certificates/${first.body.certificate.id}/renew`, {}).expect(201);
    expect(renewed.body.certificate).toMatchObject({ profileId: p.id, usage: 'client', commonName: 'renew-me', renewedFromId: first.body.certificate.id });
    expect(days(renewed.body.certificate)).toBe(25);
    const tooLong = await post(`/api/v1/certificates/${renewed.body.certificate.id}/renew`, { validityDays: 26 }).expect(422);
    expect(tooLong.body.details.rule).toBe('maxValidityDays');
  });

  describe('approvals', () => {
    let approvalProfile: { id: string; slug: string };
    let requesterKey: string;
    let requesterId: string;
    let approverKey: string;

    beforeAll(async () => {
      approvalProfile = await profile({ requireApproval: true, approvalTtlHours: 2, allowedDomains: ['example.com'] });
      const requester = await createKey(gateway, adminKey, { name: 'requester', role: 'member', permissions: { [caId]: { read: true, issue: true } } });
      requesterKey = requester.key;
      requesterId = requester.apiKey.id;
      approverKey = (await createKey(gateway, adminKey, { name: 'approver', role: 'member', permissions: { [caId]: { read: true, approve: true } } })).key;
    });

    const ask = async (commonName: string, key = requesterKey) => {
      const res = await post('/api/v1/certificates', { profileId: approvalProfile.id, mode: 'csr', csrPem: csr(commonName, `/CN=${commonName}`) }, key).expect(202);
      return res.body.approval;
    };

    it('answers 202 with nothing signed, audits the request as pending, and issues once approved', async () => {
      const before = await count('certificates');
      const approval = await ask('four.example.com');
      expect(approval).toMatchObject({ status: 'pending', profileId: approvalProfile.id, caId, certificateId: null, request: { commonName: 'four.example.com', mode: 'csr', keyAlgorithm: 'ECDSA-P256' }, requestedBy: { type: 'apiKey', id: requesterId } });
      expect(await count('certificates')).toBe(before);
      const audit = await get(`/api/v1/audit?eventType=approval.requested&resourceId=${approval.id}`).expect(200);
      expect(audit.body.events).toEqual([expect.objectContaining({ outcome: 'pending' })]);
      // The requester reads its own; it can never decide it.
      await get(`/api/v1/approvals/${approval.id}`, requesterKey).expect(200);
      const self = await post(`/api/v1/approvals/${approval.id}/approve`, {}, requesterKey).expect(403);
      expectErrorShape(self.body, 'forbidden', 403);
      // A key without approve on the CA: 403 (it may read the CA, so it sees the request); none on the CA: 404.
      const issuer = (await createKey(gateway, adminKey, { name: 'issuer', role: 'member', permissions: { [caId]: { read: true, issue: true } } })).key;
      expectErrorShape((await post(`/api/v1/approvals/${approval.id}/approve`, {}, issuer).expect(403)).body, 'forbidden', 403);
      await post(`/api/v1/approvals/${approval.id}/reject`, { reason: 'no' }, issuer).expect(403);
      const stranger = (await createKey(gateway, adminKey, { name: 'stranger', role: 'member', permissions: { [otherCaId]: { read: true, approve: true } } })).key;
      await post(`/api/v1/approvals/${approval.id}/approve`, {}, stranger).expect(404);
      await get(`/api/v1/approvals/${approval.id}`, stranger).expect(404);
      // The approver sees it in the queue and approves: one certificate, judged by openssl.
      const queue = await get('/api/v1/approvals?status=pending', approverKey).expect(200);
      expect(queue.body.approvals.map((a: { id: string }) => a.id)).toContain(approval.id);
      const approved = await post(`/api/v1/approvals/${approval.id}/approve`, {}, approverKey).expect(200);
      expect(approved.body.approval).toMatchObject({ status: 'approved', certificateId: approved.body.certificate.id, decidedBy: { type: 'apiKey' } });
      expect(approved.body.certificate).toMatchObject({ commonName: 'four.example.com', profileId: approvalProfile.id });
      const pem = (await get(`/api/v1/certificates/${approved.body.certificate.id}`).expect(200)).body.certificate.certificatePem;
      expect(text('approved', pem)).toContain('DNS:four.example.com');
      expect(await count('certificates')).toBe(before + 1);
      // Decided: a second decision is 409.
      await post(`/api/v1/approvals/${approval.id}/reject`, { reason: 'late' }, approverKey).expect(409);
      expect((await get(`/api/v1/audit?eventType=approval.approved&outcome=success&resourceId=${approval.id}`).expect(200)).body.events).toHaveLength(1);
    });

    it('issues exactly one certificate when two approvers race; the other gets 409', async () => {
      const approval = await ask('race.example.com');
      const [a, b] = await Promise.all([
        post(`/api/v1/approvals/${approval.id}/approve`, {}, approverKey),
        post(`/api/v1/approvals/${approval.id}/approve`, {}, adminKey),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      const rows = await db.query(`SELECT count(*) AS n FROM certificates WHERE common_name = 'race.example.com'`);
      expect(Number(rows.rows[0].n)).toBe(1);
    });

    it('rejects with a reason; expires by the clock (409 on a decision); refuses managed requests without storeKey', async () => {
      const rejected = await ask('no.example.com');
      await post(`/api/v1/approvals/${rejected.id}/reject`, {}, approverKey).expect(400);
      const res = await post(`/api/v1/approvals/${rejected.id}/reject`, { reason: 'not ours' }, approverKey).expect(200);
      expect(res.body.approval).toMatchObject({ status: 'rejected', reason: 'not ours', certificateId: null });
      await post(`/api/v1/approvals/${rejected.id}/approve`, {}, approverKey).expect(409);

      const late = await ask('late.example.com');
      const clock = gateway.get(Clock);
      const now = Date.now();
      const spy = jest.spyOn(clock, 'now').mockReturnValue(new Date(now + 2 * 3_600_000 + 1000));
      try {
        expect((await get(`/api/v1/approvals/${late.id}`, approverKey).expect(200)).body.approval.status).toBe('expired');
        expect((await get('/api/v1/approvals?status=expired', approverKey).expect(200)).body.approvals.map((a: { id: string }) => a.id)).toContain(late.id);
        const decided = await post(`/api/v1/approvals/${late.id}/approve`, {}, approverKey).expect(409);
        expectErrorShape(decided.body, 'conflict', 409);
      } finally {
        spy.mockRestore();
      }

      const managed = await post('/api/v1/certificates', { profileId: approvalProfile.id, commonName: 'managed.example.com' }, requesterKey).expect(400);
      expect(JSON.stringify(managed.body.details)).toContain('storeKey');
      // Managed with storeKey: the key is fetched once issued.
      const kept = await post('/api/v1/certificates', { profileId: approvalProfile.id, commonName: 'kept.example.com', storeKey: true }, requesterKey).expect(202);
      const issued = await post(`/api/v1/approvals/${kept.body.approval.id}/approve`, {}, adminKey).expect(200);
      const key = await request(http).get(`/api/v1/certificates/${issued.body.certificate.id}/download?format=key`).set(bearer(requesterKey)).expect(200);
      expect(key.text).toContain('BEGIN PRIVATE KEY');
      // Unknown: 404.
      await post('/api/v1/approvals/00000000-0000-4000-8000-000000000000/approve', {}, approverKey).expect(404);
    });

    it('refuses a request outside the profile when it is made, and ends one the changed profile refuses at issuance', async () => {
      const before = await count('approvals');
      const outside = await post('/api/v1/certificates', { profileId: approvalProfile.id, mode: 'csr', csrPem: csr('outside', '/CN=outside.example.org') }, requesterKey).expect(422);
      expect(outside.body.details.rule).toBe('allowedDomains');
      expect(await count('approvals')).toBe(before);

      const own = await profile({ requireApproval: true, allowedDomains: ['example.com'] });
      const pending = (await post('/api/v1/certificates', { profileId: own.id, mode: 'csr', csrPem: csr('changed', '/CN=changed.example.com') }, requesterKey).expect(202)).body.approval;
      await request(http).patch(`/api/v1/profiles/${own.id}`).set(bearer(adminKey)).send({ allowedDomains: ['example.net'] }).expect(200);
      const res = await post(`/api/v1/approvals/${pending.id}/approve`, {}, approverKey).expect(422);
      expect(res.body.details.rule).toBe('allowedDomains');
      const ended = (await get(`/api/v1/approvals/${pending.id}`, approverKey).expect(200)).body.approval;
      expect(ended).toMatchObject({ status: 'rejected', certificateId: null });
      expect(ended.reason).toMatch(/refused at issuance/);
    });
  });
});
