import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { IssueCertificateJob, SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { Queue } from 'bullmq';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway, startSigner } from './support';

const dir = mkdtempSync(join(tmpdir(), 'signet-cas-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};

describe('CA hierarchies through the signer queue', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let orgId: string;

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    const org = await createOrg(gateway, 'CA org');
    adminKey = org.adminKey;
    orgId = org.org.id;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  const createCa = (body: Record<string, unknown>, key = adminKey) => request(http).post('/api/v1/cas').set(bearer(key)).send(body);
  /** Every signer job Redis still holds (completed jobs stay an hour), as one string to search. */
  /** This suite's jobs in Redis (its org's; other suites run beside it on the same queue prefix). */
  const jobsInRedis = async (): Promise<string> => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      const jobKeys = (await redis.keys(`${process.env.QUEUE_PREFIX}:signer:*`)).filter((k) => /:signer:[^:]+$/.test(k));
      const jobs = await Promise.all(jobKeys.map(async (k) => ((await redis.type(k)) === 'hash' ? JSON.stringify(await redis.hgetall(k)) : '')));
      return jobs.filter((job) => job.includes(orgId)).join('');
    } finally {
      redis.disconnect();
    }
  };

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
    const made = await createCa({ ...child, caPassphrase: 'correct horse battery' }).expect(201);
    await request(http).post('/api/v1/certificates').set(bearer(adminKey))
      .send({ caId: made.body.ca.parentCaId, commonName: 'locked.example.test', caPassphrase: 'correct horse battery' }).expect(201);
    // Passphrases crossed Redis sealed to the signers' transport key: no job holds one in the clear.
    const jobs = await jobsInRedis();
    expect(jobs).toContain('sealedPassphrase');
    expect(jobs).toContain('sealedCaPassphrase');
    expect(jobs).not.toMatch(/horse battery/);

    // A sealed passphrase is bound to its CA: lifted out of that job into a job for another CA with the
    // same passphrase, the signer refuses it.
    const twin = (await createCa({ name: 'Locked twin', subject: { commonName: 'Locked Twin' }, passphrase: 'correct horse battery' }).expect(201)).body.ca.id;
    const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const queue = new Queue(SIGNER_QUEUE, { prefix: process.env.QUEUE_PREFIX, connection });
    try {
      const carrier = (await queue.getJobs(['completed'], 0, 1000)).flatMap((job) => (job.data.items ?? [job.data]) as IssueCertificateJob[])
        .find((item) => item.commonName === 'locked.example.test' && item.sealedCaPassphrase);
      expect(carrier).toBeDefined();
      const certificateId = randomUUID();
      const replay = await queue.add(SIGNER_JOBS.issueCertificate, { ...carrier, caId: twin, certificateId, issuanceKey: `issue-${certificateId}`, recipientKey: undefined },
        { jobId: `replay-${certificateId}` });
      let state = await replay.getState();
      for (let i = 0; i < 200 && state !== 'completed' && state !== 'failed'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        state = await replay.getState();
      }
      expect({ state, reason: (await queue.getJob(replay.id!))!.failedReason }).toEqual({ state: 'failed', reason: expect.stringContaining('not for this certificate authority') });
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('refuses what policy forbids, with clear errors and nothing stored', async () => {
    const root = await createCa({ name: 'Short', subject: { commonName: 'Short Root' }, validityDays: 30, pathLength: 0 }).expect(201);
    const sub = await createCa({ name: 'Sub', subject: { commonName: 'Sub' }, parentCaId: root.body.ca.id }).expect(422);
    expectErrorShape(sub.body, 'policy_violation', 422);
    const before = (await request(http).get('/api/v1/cas').set(bearer(adminKey))).body.cas.length;
    const bad = await createCa({ name: '', subject: {}, keyAlgorithm: 'DSA-1024', validityDays: -1, passphrase: 'short', permittedDnsDomains: ['a..b'] }).expect(400);
    expect(bad.body.code).toBe('validation_failed');
    expect(bad.body.details.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(['name', 'subject.commonName', 'keyAlgorithm', 'validityDays', 'passphrase']));
    for (const subject of [undefined, [], 'CN=x']) {
      const refused = await createCa({ name: 'No subject', subject }).expect(400);
      expect(refused.body.details.fields.map((f: { field: string }) => f.field)).toContain('subject');
    }
    await createCa({ name: 'x', subject: { commonName: 'x' }, permittedDnsDomains: ['bad..name'] }).expect(400);
    await createCa({ name: 'x', subject: { commonName: 'x' }, parentCaId: '00000000-0000-4000-8000-000000000000' }).expect(404);
    expect((await request(http).get('/api/v1/cas').set(bearer(adminKey))).body.cas.length).toBe(before);
  });

  describe('import of an externally signed CA', () => {
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    const importCa = (body: Record<string, unknown>, key = adminKey) => request(http).post('/api/v1/cas/import').set(bearer(key)).send(body);
    const caCount = async () => (await request(http).get('/api/v1/cas?includeRevoked=true').set(bearer(adminKey))).body.cas.length;

    beforeAll(() => {
      // An outside hierarchy made by openssl: a root, an intermediate under it, and a non-CA certificate.
      writeFileSync(join(dir, 'ext.cnf'), [
        '[ca]', 'basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid',
      ].join('\n'));
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
      expect(openssl('req', '-x509', ...ec, '-keyout', 'ext-root.key', '-out', 'ext-root.pem', '-subj', '/CN=External Root/O=Elsewhere', '-days', '3650',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign').ok).toBe(true);
      expect(openssl('req', '-new', ...ec, '-keyout', 'ext-int.key', '-out', 'ext-int.csr', '-subj', '/CN=External Issuing').ok).toBe(true);
      expect(openssl('x509', '-req', '-in', 'ext-int.csr', '-CA', 'ext-root.pem', '-CAkey', 'ext-root.key', '-CAcreateserial', '-days', '1000',
        '-extfile', 'ext.cnf', '-extensions', 'ca', '-out', 'ext-int.pem').ok).toBe(true);
      expect(openssl('req', '-x509', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.pem', '-subj', '/CN=not-a-ca.example', '-days', '30',
        '-addext', 'basicConstraints=critical,CA:FALSE').ok).toBe(true);
    });

    it('imports an intermediate with its chain; leaves issued from it verify up to the outside root', async () => {
      const res = await importCa({ name: 'Outside issuing', certificatePem: read('ext-int.pem'), privateKeyPem: read('ext-int.key'), chainPem: read('ext-root.pem') }).expect(201);
      expect(res.body.ca).toMatchObject({ type: 'intermediate', parentCaId: null, depth: 1, commonName: 'External Issuing', keyAlgorithm: 'ECDSA-P256', pathLength: 0, hasPassphrase: false, status: 'active' });
      expect(res.body.ca.certificatePem).toBe(read('ext-int.pem'));
      const leaf = await request(http).post('/api/v1/certificates').set(bearer(adminKey)).send({ caId: res.body.ca.id, commonName: 'imported.example.test' }).expect(201);
      const blocks = leaf.body.certificate.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g);
      expect(blocks).toHaveLength(2);
      writeFileSync(join(dir, 'imported-leaf.pem'), leaf.body.certificate.certificatePem);
      writeFileSync(join(dir, 'imported-untrusted.pem'), blocks[0]);
      expect(openssl('verify', '-CAfile', 'ext-root.pem', '-untrusted', 'imported-untrusted.pem', 'imported-leaf.pem').out).toContain('imported-leaf.pem: OK');
      const chain = await request(http).get(`/api/v1/cas/${res.body.ca.id}/chain`).set(bearer(adminKey)).expect(200);
      expect(chain.body.chainLength).toBe(2);
      const audit = await request(http).get(`/api/v1/audit?eventType=ca.import&resourceId=${res.body.ca.id}`).set(bearer(adminKey)).expect(200);
      expect(audit.body.events).toHaveLength(1);
      expect(JSON.stringify(audit.body)).not.toContain('PRIVATE KEY');
      // The key crossed Redis sealed: no job in the queue holds it in the clear.
      const jobs = await jobsInRedis();
      expect(jobs).toContain('ca.import');
      expect(jobs).not.toContain(read('ext-int.key').split('\n')[1]);
      expect(jobs).not.toContain('PRIVATE KEY');
    });

    it('imports a self-signed root under a passphrase', async () => {
      const res = await importCa({ name: 'Outside root', certificatePem: read('ext-root.pem'), privateKeyPem: read('ext-root.key'), passphrase: 'twelve chars or more' }).expect(201);
      expect(res.body.ca).toMatchObject({ type: 'root', depth: 0, hasPassphrase: true });
      const issue = (extra: Record<string, unknown>) => request(http).post('/api/v1/certificates').set(bearer(adminKey)).send({ caId: res.body.ca.id, commonName: 'r.example.test', ...extra });
      expectErrorShape((await issue({}).expect(409)).body, 'ca_unavailable', 409);
      await issue({ caPassphrase: 'twelve chars or more' }).expect(201);
      // The same certificate again is a conflict, not a second CA.
      expectErrorShape((await importCa({ name: 'again', certificatePem: read('ext-root.pem'), privateKeyPem: read('ext-root.key') }).expect(409)).body, 'conflict', 409);
    });

    it('refuses a key that does not match, a non-CA certificate, a broken chain and garbage, storing nothing', async () => {
      const before = await caCount();
      const fieldOf = (res: request.Response) => {
        expectErrorShape(res.body, 'validation_failed', 400);
        return res.body.details.fields[0].field;
      };
      expect(fieldOf(await importCa({ name: 'x', certificatePem: read('ext-int.pem'), privateKeyPem: read('leaf.key') }).expect(400))).toBe('privateKeyPem');
      expect(fieldOf(await importCa({ name: 'x', certificatePem: read('leaf.pem'), privateKeyPem: read('leaf.key') }).expect(400))).toBe('certificatePem');
      expect(fieldOf(await importCa({ name: 'x', certificatePem: read('ext-int.pem'), privateKeyPem: read('ext-int.key'), chainPem: read('leaf.pem') }).expect(400))).toBe('chainPem');
      expect(fieldOf(await importCa({ name: 'x', certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', privateKeyPem: read('ext-int.key') }).expect(400))).toBe('certificatePem');
      expect(fieldOf(await importCa({ name: 'x', certificatePem: read('ext-int.pem'), privateKeyPem: 'not a key' }).expect(400))).toBe('privateKeyPem');
      const shape = await importCa({ name: 7, certificatePem: ['x'], privateKeyPem: 'k'.repeat(70000) }).expect(400);
      expect(shape.body.details.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(['name', 'certificatePem', 'privateKeyPem']));
      const member = await createKey(gateway, adminKey, { name: 'importer', role: 'member' });
      await importCa({ name: 'x', certificatePem: read('ext-int.pem'), privateKeyPem: read('ext-int.key') }, member.key).expect(403);
      expect(await caCount()).toBe(before);
    });
  });

  it('lets only org admins create CAs', async () => {
    const member = await createKey(gateway, adminKey, { name: 'm', role: 'member' });
    await createCa({ name: 'x', subject: { commonName: 'x' } }, member.key).expect(403);
  });
});
