/**
 * Obtaining from an outside ACME CA (API.md section 8), judged by Debian's pebble on loopback: its VA
 * sends http-01 to this gateway's HTTP port and resolves every name through a real Knot DNS, which the
 * gateway updates over RFC 2136 with TSIG for dns-01 (`*.example.test` answers 127.0.0.1; `other.test`
 * has no such record, so pebble cannot reach names there). EAB is required by this pebble. The gateway
 * runs in-process with a built signer (key.wrap, and the renewal sweep that hands due certificates to the
 * gateways' order queue); PostgreSQL and Redis are real, with a database and queue prefix of its own.
 * - accounts: EAB required and checked by pebble, the key kept only encrypted, listed, deactivated at pebble;
 * - obtain for two names over http-01 and over dns-01 (rfc2136, a wildcard); the certificate verifies
 *   with `openssl verify` against pebble's root; it is in list, search, stats and downloads like imports;
 * - renew by API (202 {order}) and by the sweep; revoke at pebble (its management port says Revoked);
 * - dry run stores nothing; bad input 400/404 in API.md's shape; pebble's refusal ends the order invalid
 *   with its problem; DNS credentials never come back and never reach the audit log.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  PebbleServer, RunningService, clearRedisPrefix, createTestDatabase, dropTestDatabase, freePort, pebbleAvailable, runId, startPebble, stopService,
} from '@signet/testing';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { KnotServer, knotAvailable, startKnot } from '../src/app/external-acme/dns-providers/test/knot-server';
import { createOrg, expectErrorShape, startGateway, startSigner, until, withKey } from './support';

const EAB_KID = 'signet-test-kid';
const EAB_KEY = randomBytes(48).toString('base64url');
const missing = pebbleAvailable() ?? knotAvailable();

(missing ? describe.skip : describe)('obtaining from an outside ACME CA (pebble)', () => {
  let databaseUrl: string;
  const prefix = `signet-test-external-acme-${runId()}`;
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let knot: KnotServer;
  let pebble: PebbleServer;
  let adminKey: string;
  let accountId: string;
  let gatewayEnv: Record<string, string>;
  let port: number;
  const work = mkdtempSync(join(tmpdir(), 'signet-external-acme-'));

  const api = (key = adminKey) => withKey(http, key);
  const fieldsOf = (body: { details?: { fields?: { field: string }[] } }) => (body.details?.fields ?? []).map((f) => f.field).sort();
  const rfc2136 = () => {
    const key = knot.keys[0];
    return { type: 'rfc2136', nameserver: knot.nameserver, tsigKeyName: key.name, tsigAlgorithm: key.algorithm, tsigSecret: key.secret };
  };
  /** The order, once it is valid or invalid. */
  const settled = (orderId: string) =>
    until(`order ${orderId} to settle`, async () => {
      const { order } = (await api().get(`/api/v1/acme-orders/${orderId}`).expect(200)).body;
      return order.status === 'valid' || order.status === 'invalid' ? order : null;
    }, 90_000);
  const obtain = async (body: Record<string, unknown>) => {
    const res = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, ...body }).expect(202);
    return settled(res.body.order.id);
  };
  /** `openssl verify` of the certificate against pebble's root, its chain as untrusted intermediates. */
  const verifies = async (certificateId: string) => {
    const { certificatePem, chainPem } = (await api().get(`/api/v1/certificates/${certificateId}/download?format=json`).expect(200)).body;
    const dir = mkdtempSync(join(work, 'verify-'));
    writeFileSync(join(dir, 'root.pem'), await pebble.root());
    writeFileSync(join(dir, 'leaf.pem'), certificatePem);
    writeFileSync(join(dir, 'chain.pem'), chainPem);
    return execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'chain.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' }).trim();
  };

  /** A (new) gateway process's worth of gateway on the port pebble validates http-01 at. */
  const restartGateway = async (extra: Record<string, string> = {}) => {
    await gateway?.close();
    gateway = await startGateway({ ...gatewayEnv, ...extra });
    await gateway.listen(port, '127.0.0.1');
    http = gateway.getHttpServer();
  };

  beforeAll(async () => {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    const env = { DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix };
    port = await freePort();
    knot = await startKnot({
      zones: ['example.test', 'other.test'], keys: [{ name: 'signet-acme', algorithm: 'hmac-sha256', update: true }], records: { 'example.test': ['* A 127.0.0.1'] },
    });
    pebble = await startPebble({ httpPort: port, dnsServer: knot.nameserver, eabKeys: { [EAB_KID]: EAB_KEY } });
    signer = await startSigner({ ...env, RENEWAL_SWEEP_INTERVAL_MS: '1000' });
    gatewayEnv = {
      ...env, WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), EXTERNAL_ACME_CA_FILE: pebble.listenerCaFile, EXTERNAL_ACME_ORDER_TIMEOUT_MS: '120000',
      EXTERNAL_ACME_EXEC_COMMANDS: '/usr/bin/true',
    };
    await restartGateway();
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Outside ACME org')).adminKey;
  }, 120_000);

  afterAll(async () => {
    const steps: (() => Promise<unknown>)[] = [
      async () => gateway?.close(), async () => signer && stopService(signer), async () => db?.end(), async () => pebble?.stop(), async () => knot?.stop(),
      () => dropTestDatabase(databaseUrl), () => clearRedisPrefix(process.env.REDIS_URL as string, prefix),
      async () => rmSync(work, { recursive: true, force: true }),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('opens an account with EAB (pebble requires it), keeps its key only encrypted, and lists it', async () => {
    const refused = await api().post('/api/v1/acme-accounts', { directoryUrl: pebble.directoryUrl, email: 'ops@example.test', termsOfServiceAgreed: true }).expect(400);
    expectErrorShape(refused.body, 'bad_request', 400);
    expect(JSON.stringify(refused.body.details.problem)).toMatch(/externalAccountRequired|External Account Binding/i);
    const wrongKey = await api().post('/api/v1/acme-accounts', {
      directoryUrl: pebble.directoryUrl, email: 'ops@example.test', termsOfServiceAgreed: true, eab: { keyId: EAB_KID, hmacKey: randomBytes(48).toString('base64url') },
    }).expect(400);
    expectErrorShape(wrongKey.body, 'bad_request', 400);

    const created = await api().post('/api/v1/acme-accounts', {
      directoryUrl: pebble.directoryUrl, stagingDirectoryUrl: pebble.directoryUrl, email: 'ops@example.test', termsOfServiceAgreed: true, eab: { keyId: EAB_KID, hmacKey: EAB_KEY },
    }).expect(201);
    const account = created.body.acmeAccount;
    expect(account).toEqual({
      id: expect.any(String), directoryUrl: pebble.directoryUrl, stagingDirectoryUrl: pebble.directoryUrl, email: 'ops@example.test', eabKeyId: EAB_KID,
      accountUrl: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//), status: 'valid', keyAlgorithm: 'ECDSA-P256', createdAt: expect.any(String), deactivatedAt: null,
    });
    accountId = account.id;
    const list = (await api().get('/api/v1/acme-accounts').expect(200)).body;
    expect(list).toEqual({ acmeAccounts: [account], total: 1, page: 1, pageSize: 20, totalPages: 1 });
    const stored = (await db.query('SELECT encrypted_account_key FROM external_acme_accounts WHERE id = $1', [accountId])).rows[0].encrypted_account_key as Buffer;
    expect(stored.toString('latin1')).not.toContain('PRIVATE KEY');
    const audit = JSON.stringify((await db.query(`SELECT details FROM audit_events WHERE event_type LIKE 'external_acme_account.%'`)).rows);
    expect(audit).not.toContain(EAB_KEY);
  });

  it('refuses bad input in API.md\'s shape, writing nothing', async () => {
    const before = Number((await db.query('SELECT count(*) AS n FROM external_acme_orders')).rows[0].n);
    const unknown = await api().post('/api/v1/certificates/obtain', { acmeAccountId: '00000000-0000-4000-8000-000000000000', domains: ['a.example.test'], challengeType: 'http-01' }).expect(404);
    expectErrorShape(unknown.body, 'not_found', 404);
    const badDomains = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['exa mple.test', '*.example.test', 'localhost'], challengeType: 'http-01' }).expect(400);
    expectErrorShape(badDomains.body, 'validation_failed', 400);
    expect(fieldsOf(badDomains.body)).toEqual(['domains']);
    const unsupported = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['a.example.test'], challengeType: 'dns-01', dnsProvider: { type: 'bind9' } }).expect(400);
    expect(fieldsOf(unsupported.body)).toEqual(['dnsProvider.type']);
    const garbage = await api().post('/api/v1/certificates/obtain', {
      acmeAccountId: accountId, domains: ['a.example.test'], challengeType: 'dns-01', dnsProvider: { ...rfc2136(), tsigSecret: 'not base64!', baseUrl: 'http://169.254.169.254' },
    }).expect(400);
    expect(fieldsOf(garbage.body)).toEqual(['dnsProvider.baseUrl', 'dnsProvider.tsigSecret']);
    expect(JSON.stringify(garbage.body)).not.toContain('not base64!');
    const notAllowed = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['a.example.test'], challengeType: 'dns-01', dnsProvider: { type: 'exec', command: '/bin/sh' } }).expect(400);
    expect(fieldsOf(notAllowed.body)).toEqual(['dnsProvider.command']);
    const noProvider = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['a.example.test'], challengeType: 'dns-01' }).expect(400);
    expect(fieldsOf(noProvider.body)).toEqual(['dnsProvider']);
    for (const body of [{}, { acmeAccountId: 'x', domains: 'a', challengeType: 'tls-alpn-01' }, { acmeAccountId: accountId, domains: [], challengeType: 'http-01' }]) {
      expectErrorShape((await api().post('/api/v1/certificates/obtain', body).expect(400)).body, 'validation_failed', 400);
    }
    const notAcme = await api().post('/api/v1/acme-accounts', { directoryUrl: `${pebble.directoryUrl.replace('/dir', '/nope')}`, email: 'ops@example.test', termsOfServiceAgreed: true }).expect(400);
    expectErrorShape(notAcme.body, 'bad_request', 400);
    expect(fieldsOf((await api().post('/api/v1/acme-accounts', { directoryUrl: 'http://127.0.0.1/dir', email: 'nope', termsOfServiceAgreed: false }).expect(400)).body)).toEqual(
      ['directoryUrl', 'email', 'termsOfServiceAgreed'],
    );
    const hostile = await api().post('/api/v1/acme-accounts', { directoryUrl: pebble.directoryUrl, stagingDirectoryUrl: 'https://staging.example/a\u0000b', email: 'ops@example.test', termsOfServiceAgreed: true }).expect(400);
    expect(fieldsOf(hostile.body)).toEqual(['stagingDirectoryUrl']);
    expect(Number((await db.query('SELECT count(*) AS n FROM external_acme_orders')).rows[0].n)).toBe(before);
    expectErrorShape((await api().get('/api/v1/acme-orders/00000000-0000-4000-8000-000000000000').expect(404)).body, 'not_found', 404);
  });

  let httpCertificateId: string;

  it('obtains for two names over http-01: the certificate verifies against pebble\'s root and joins the inventory as external-acme', async () => {
    const order = await obtain({ domains: ['www.example.test', 'api.example.test'], challengeType: 'http-01' });
    expect(order).toEqual(expect.objectContaining({ status: 'valid', domains: ['www.example.test', 'api.example.test'], challengeType: 'http-01', dnsProvider: null, error: null, certificateId: expect.any(String) }));
    httpCertificateId = order.certificateId;
    expect(await verifies(httpCertificateId)).toMatch(/: OK$/);
    const { certificate } = (await api().get(`/api/v1/certificates/${httpCertificateId}`).expect(200)).body;
    expect(certificate).toEqual(expect.objectContaining({
      source: 'external-acme', caId: null, issuer: expect.stringContaining('Pebble'), sanDns: ['www.example.test', 'api.example.test'], keyAlgorithm: 'ECDSA-P256',
      hasStoredKey: true, autoRenew: true, status: 'active',
    }));
    const listed = (await api().get('/api/v1/certificates?source=external-acme').expect(200)).body;
    expect(listed.certificates.map((c: { id: string }) => c.id)).toContain(httpCertificateId);
    expect((await api().get('/api/v1/certificates?search=api.example.test').expect(200)).body.total).toBe(1);
    const stats = (await api().get('/api/v1/certificates/stats').expect(200)).body;
    expect(Object.keys(stats.byIssuer).some((issuer) => issuer.includes('Pebble'))).toBe(true);
    const key = await api().get(`/api/v1/certificates/${httpCertificateId}/download?format=key`).expect(200);
    expect(key.text).toContain('BEGIN PRIVATE KEY');
    // The key authorizations are gone once the order ended.
    expect((await db.query('SELECT 1 FROM external_acme_orders WHERE certificate_id = $1', [httpCertificateId])).rowCount).toBe(1);
  });

  let dnsCertificateId: string;

  it('obtains over dns-01 through rfc2136 (TSIG) at a real Knot, a wildcard included; the credentials never come back nor reach the audit log', async () => {
    const provider = rfc2136();
    const order = await obtain({ domains: ['db.example.test', '*.db.example.test'], challengeType: 'dns-01', dnsProvider: provider, keyAlgorithm: 'RSA-2048' });
    expect(order).toEqual(expect.objectContaining({ status: 'valid', dnsProvider: 'rfc2136', error: null }));
    dnsCertificateId = order.certificateId;
    expect(await verifies(dnsCertificateId)).toMatch(/: OK$/);
    expect((await api().get(`/api/v1/certificates/${dnsCertificateId}`).expect(200)).body.certificate).toEqual(expect.objectContaining({ sanDns: ['db.example.test', '*.db.example.test'], keyAlgorithm: 'RSA-2048' }));
    // Taken down after validation.
    expect(await knot.txt('_acme-challenge.db.example.test')).toEqual([]);
    const everything = JSON.stringify([
      (await api().get(`/api/v1/acme-orders/${order.id}`).expect(200)).body,
      (await db.query('SELECT details, error FROM audit_events')).rows,
    ]);
    expect(everything).not.toContain(provider.tsigSecret);
    const stored = (await db.query('SELECT encrypted_config FROM external_acme_dns_credentials')).rows.map((r) => (r.encrypted_config as Buffer).toString('latin1')).join();
    expect(stored).not.toContain(provider.tsigSecret);
  });

  it('renews by API through the same account (202 {order}); the old certificate is superseded', async () => {
    const res = await api().post(`/api/v1/certificates/${httpCertificateId}/renew`, {}).expect(202);
    expect(res.body.order).toEqual(expect.objectContaining({ renewsCertificateId: httpCertificateId, domains: ['www.example.test', 'api.example.test'], challengeType: 'http-01' }));
    const order = await settled(res.body.order.id);
    expect(order).toEqual(expect.objectContaining({ status: 'valid', error: null }));
    const old = (await api().get(`/api/v1/certificates/${httpCertificateId}`).expect(200)).body.certificate;
    expect(old.supersededById).toBe(order.certificateId);
    expect(await verifies(order.certificateId)).toMatch(/: OK$/);
    expectErrorShape((await api().post(`/api/v1/certificates/${httpCertificateId}/renew`, {}).expect(409)).body, 'conflict', 409);
    httpCertificateId = order.certificateId;
  });

  it('is renewed by the sweep: the signer hands the due certificate to the gateways\' order queue, renewed over dns-01 as obtained', async () => {
    // Due now: within its threshold of validTo (only the row; what the sweep reads).
    await db.query(`UPDATE certificates SET valid_from = now() - interval '80 days', valid_to = now() + interval '10 days' WHERE id = $1`, [dnsCertificateId]);
    const renewed = await until('the sweep to renew it', async () => {
      const { certificate } = (await api().get(`/api/v1/certificates/${dnsCertificateId}`).expect(200)).body;
      return certificate.supersededById as string | null;
    }, 90_000);
    const successor = (await api().get(`/api/v1/certificates/${renewed}`).expect(200)).body.certificate;
    expect(successor).toEqual(expect.objectContaining({ source: 'external-acme', renewedFromId: dnsCertificateId, sanDns: ['db.example.test', '*.db.example.test'] }));
    const orders = (await db.query(`SELECT status, challenge_type FROM external_acme_orders WHERE renews_certificate_id = $1`, [dnsCertificateId])).rows;
    expect(orders).toEqual([{ status: 'valid', challenge_type: 'dns-01' }]);
    expect(await verifies(renewed)).toMatch(/: OK$/);
  }, 120_000);

  it('revokes at pebble through the account', async () => {
    const { certificate } = (await api().get(`/api/v1/certificates/${httpCertificateId}`).expect(200)).body;
    const res = await api().post(`/api/v1/certificates/${httpCertificateId}/revoke`, { reason: 'keyCompromise' }).expect(200);
    expect(res.body.certificate).toEqual(expect.objectContaining({ status: 'revoked', revocationReason: 'keyCompromise' }));
    expect(await pebble.certificateStatus(certificate.serialNumber)).toEqual(expect.objectContaining({ Status: 'Revoked', Reason: 1 }));
    expectErrorShape((await api().post(`/api/v1/certificates/${httpCertificateId}/revoke`, {}).expect(409)).body, 'already_revoked', 409);
  });

  it('a dry run goes through the account\'s staging directory and stores no certificate', async () => {
    const before = Number((await db.query('SELECT count(*) AS n FROM certificates')).rows[0].n);
    const order = await obtain({ domains: ['dry.example.test'], challengeType: 'http-01', dryRun: true });
    expect(order).toEqual(expect.objectContaining({ status: 'valid', dryRun: true, certificateId: null }));
    expect(Number((await db.query('SELECT count(*) AS n FROM certificates')).rows[0].n)).toBe(before);
    expect((await db.query('SELECT staging_account_url FROM external_acme_accounts WHERE id = $1', [accountId])).rows[0].staging_account_url).toMatch(/my-account/);
  });

  it('an order outlives its gateway: queued by one that works no orders, done by the next one (the job is in Redis, the order in PostgreSQL)', async () => {
    await restartGateway({ EXTERNAL_ACME_WORKER: 'false' });
    const queued = (await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['later.example.test'], challengeType: 'http-01' }).expect(202)).body.order;
    expect((await api().get(`/api/v1/acme-orders/${queued.id}`).expect(200)).body.order.status).toBe('pending');
    await restartGateway();
    expect(await settled(queued.id)).toEqual(expect.objectContaining({ status: 'valid', certificateId: expect.any(String) }));
  });

  it('ends the order invalid with pebble\'s own problem when it cannot validate, and with the provider\'s words when DNS refuses', async () => {
    const unreachable = await obtain({ domains: ['nowhere.other.test'], challengeType: 'http-01' });
    expect(unreachable.status).toBe('invalid');
    expect(unreachable.certificateId).toBeNull();
    expect(unreachable.error).toEqual(expect.objectContaining({ type: expect.stringMatching(/^urn:ietf:params:acme:error:/), detail: expect.any(String), identifier: 'nowhere.other.test' }));
    // An allowed exec hook that puts nothing up: pebble finds no TXT record and says so.
    const hookDidNothing = await obtain({ domains: ['exec.example.test'], challengeType: 'dns-01', dnsProvider: { type: 'exec', command: '/usr/bin/true' } });
    expect(hookDidNothing).toEqual(expect.objectContaining({ status: 'invalid', dnsProvider: 'exec' }));
    expect(hookDidNothing.error).toEqual(expect.objectContaining({ type: expect.stringMatching(/^urn:ietf:params:acme:error:/), identifier: 'exec.example.test' }));
    const noZone = await obtain({ domains: ['x.unknown.test'], challengeType: 'dns-01', dnsProvider: rfc2136() });
    expect(noZone.status).toBe('invalid');
    expect(noZone.error.detail).toMatch(/DNS provider/);
  });

  it('serves an HTTP-01 answer only for a token it holds', async () => {
    await request(http).get('/.well-known/acme-challenge/unknown-token-0123456789').expect(404);
    await request(http).get('/.well-known/acme-challenge/..%2F..%2Fetc').expect(404);
  });

  it('takes renewWith {acmeAccountId} on import; autoRenew without a renewWith stays 422', async () => {
    const obtained = await obtain({ domains: ['imp.example.test'], challengeType: 'http-01', autoRenew: false });
    const { certificatePem, chainPem, privateKeyPem } = (await api().get(`/api/v1/certificates/${obtained.certificateId}/download?format=json`).expect(200)).body;
    await api().delete(`/api/v1/certificates/${obtained.certificateId}`).expect(204);
    expectErrorShape((await api().post('/api/v1/certificates/import', { certificatePem, chainPem, privateKeyPem, autoRenew: true }).expect(422)).body, 'policy_violation', 422);
    // renewWith is one way: a profile (renew-under-profile.e2e-spec) or an account, not both.
    expectErrorShape((await api().post('/api/v1/certificates/import', { certificatePem, chainPem, privateKeyPem, renewWith: { acmeAccountId: accountId, profileId: '00000000-0000-4000-8000-000000000000' } }).expect(400)).body, 'validation_failed', 400);
    const imported = (await api().post('/api/v1/certificates/import', {
      certificatePem, chainPem, privateKeyPem, autoRenew: true, renewWith: { acmeAccountId: accountId, challengeType: 'dns-01', dnsProvider: rfc2136() },
    }).expect(201)).body.certificate;
    expect(imported).toEqual(expect.objectContaining({ source: 'imported', autoRenew: true }));
    // PATCH changes how it renews: over http-01 from now on.
    const patched = await api().patch(`/api/v1/certificates/${imported.id}`, { renewWith: { acmeAccountId: accountId, challengeType: 'http-01' } }).expect(200);
    expect(patched.body.certificate.id).toBe(imported.id);
    expect(fieldsOf((await api().patch(`/api/v1/certificates/${imported.id}`, { renewWith: { acmeAccountId: accountId, challengeType: 'dns-01' } }).expect(400)).body)).toEqual(['renewWith.dnsProvider']);
    const res = await api().post(`/api/v1/certificates/${imported.id}/renew`, {}).expect(202);
    expect(res.body.order.challengeType).toBe('http-01');
    expect(await settled(res.body.order.id)).toEqual(expect.objectContaining({ status: 'valid', error: null }));
  });

  it('deactivates the account at pebble; it can order no more', async () => {
    await api().delete(`/api/v1/acme-accounts/${accountId}`).expect(204);
    expect((await api().get(`/api/v1/acme-accounts/${accountId}`).expect(200)).body.acmeAccount).toEqual(expect.objectContaining({ status: 'deactivated', deactivatedAt: expect.any(String) }));
    const refused = await api().post('/api/v1/certificates/obtain', { acmeAccountId: accountId, domains: ['late.example.test'], challengeType: 'http-01' }).expect(400);
    expect(fieldsOf(refused.body)).toEqual(['acmeAccountId']);
    expectErrorShape((await api().delete(`/api/v1/acme-accounts/${accountId}`).expect(409)).body, 'conflict', 409);
  });
});
