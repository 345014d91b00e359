import type { NestExpressApplication } from '@nestjs/platform-express';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway } from './support';

const dir = mkdtempSync(join(tmpdir(), 'signet-cas-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};

describe('CA hierarchies through the signer queue', () => {
  let gateway: NestExpressApplication;
  let signer: RunningService;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;
  let adminKey: string;

  beforeAll(async () => {
    // The real signer process (built), as in production: the gateway only talks to it through the queue.
    const port = await freePort();
    signer = spawnService('signer', { ...testServiceEnv(), MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(port) });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
    gateway = await startGateway();
    http = gateway.getHttpServer();
    adminKey = (await createOrg(gateway, 'CA org')).adminKey;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  const createCa = (body: Record<string, unknown>, key = adminKey) => request(http).post('/api/v1/cas').set(bearer(key)).send(body);

  it('makes a three-level hierarchy whose chain openssl verifies, for several key algorithms', async () => {
    const root = await createCa({ name: 'Root', subject: { commonName: 'Test Root', organization: 'Signet', country: 'DE' }, keyAlgorithm: 'ECDSA-P384', pathLength: 2 }).expect(201);
    expect(root.body.ca).toMatchObject({ type: 'root', depth: 0, parentCaId: null, keyAlgorithm: 'ECDSA-P384', status: 'active', pathLength: 2, hasPassphrase: false });
    const issuing = await createCa({ name: 'Issuing', subject: { commonName: 'Issuing CA' }, keyAlgorithm: 'RSA-2048', parentCaId: root.body.ca.id, permittedDnsDomains: ['Example.TEST'] }).expect(201);
    expect(issuing.body.ca).toMatchObject({ type: 'intermediate', depth: 1, parentCaId: root.body.ca.id, pathLength: 1, permittedDnsDomains: ['example.test'] });
    const leafCa = await createCa({ name: 'Team', subject: { commonName: 'Team CA' }, keyAlgorithm: 'Ed25519', parentCaId: issuing.body.ca.id, validityDays: 365 }).expect(201);
    expect(leafCa.body.ca).toMatchObject({ depth: 2, pathLength: 0, permittedDnsDomains: ['example.test'] });

    const chain = await request(http).get(`/api/v1/cas/${leafCa.body.ca.id}/chain`).set(bearer(adminKey)).expect(200);
    expect(chain.body.chainLength).toBe(3);
    writeFileSync(join(dir, 'root.pem'), chain.body.chain[2]);
    writeFileSync(join(dir, 'untrusted.pem'), chain.body.chain[1]);
    writeFileSync(join(dir, 'team.pem'), chain.body.chain[0]);
    const verified = openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'team.pem');
    expect(verified.out).toContain('team.pem: OK');
    const text = openssl('x509', '-in', 'team.pem', '-noout', '-text').out;
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/URI:http:\/\/127.0.0.1:3000\/pki\/cas\/[0-9a-f-]+\/crl/);

    const list = await request(http).get(`/api/v1/cas?parentCaId=${root.body.ca.id}`).set(bearer(adminKey)).expect(200);
    expect(list.body.cas.map((c: { id: string }) => c.id)).toEqual([issuing.body.ca.id]);
    const audit = await request(http).get(`/api/v1/audit?eventType=ca.create&outcome=success`).set(bearer(adminKey)).expect(200);
    expect(audit.body.events).toHaveLength(3);
  });

  it('guards passphrase-protected CA keys: a child needs the right caPassphrase', async () => {
    const root = await createCa({ name: 'Locked', subject: { commonName: 'Locked Root' }, passphrase: 'correct horse battery' }).expect(201);
    expect(root.body.ca.hasPassphrase).toBe(true);
    const child = { name: 'Child', subject: { commonName: 'Child' }, parentCaId: root.body.ca.id };
    expectErrorShape((await createCa(child).expect(409)).body, 'ca_unavailable', 409);
    expectErrorShape((await createCa({ ...child, caPassphrase: 'wrong horse battery' }).expect(409)).body, 'ca_unavailable', 409);
    await createCa({ ...child, caPassphrase: 'correct horse battery' }).expect(201);
  });

  it('refuses what policy forbids, with clear errors and nothing stored', async () => {
    const root = await createCa({ name: 'Short', subject: { commonName: 'Short Root' }, validityDays: 30, pathLength: 0 }).expect(201);
    const sub = await createCa({ name: 'Sub', subject: { commonName: 'Sub' }, parentCaId: root.body.ca.id }).expect(422);
    expectErrorShape(sub.body, 'policy_violation', 422);
    const before = (await request(http).get('/api/v1/cas').set(bearer(adminKey))).body.cas.length;
    const bad = await createCa({ name: '', subject: {}, keyAlgorithm: 'DSA-1024', validityDays: -1, passphrase: 'short', permittedDnsDomains: ['a..b'] }).expect(400);
    expect(bad.body.code).toBe('validation_failed');
    expect(bad.body.details.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(['name', 'subject.commonName', 'keyAlgorithm', 'validityDays', 'passphrase']));
    await createCa({ name: 'x', subject: { commonName: 'x' }, permittedDnsDomains: ['bad..name'] }).expect(400);
    await createCa({ name: 'x', subject: { commonName: 'x' }, parentCaId: '00000000-0000-4000-8000-000000000000' }).expect(404);
    expect((await request(http).get('/api/v1/cas').set(bearer(adminKey))).body.cas.length).toBe(before);
  });

  it('lets only org admins create CAs', async () => {
    const member = await createKey(gateway, adminKey, { name: 'm', role: 'member' });
    await createCa({ name: 'x', subject: { commonName: 'x' } }, member.key).expect(403);
  });
});
