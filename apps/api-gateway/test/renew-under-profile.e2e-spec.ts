/**
 * A certificate from elsewhere renewed under a Signet profile (API.md section 8, `renewWith: {profileId}`):
 * an openssl-made CA's certificates are imported, and their renewals are issued by a Signet CA under the
 * profile, by the renewal sweep (autoRenew) and by POST .../renew, judged by `openssl verify` against
 * Signet's chain and by comparing keys. The profile is asked first: names it refuses, a profile that wants
 * approval, one of another org or none are 4xx at import and PATCH with nothing kept; a profile deleted
 * later is a recorded failed renewal, not silence. Built signer (renewal sweep every second), gateway in
 * process, a database and queue prefix of its own.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, clearRedisPrefix, createTestDatabase, dropTestDatabase, runId, stopService } from '@signet/testing';
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { createOrg, expectErrorShape, opensslWorkspace, startGateway, startSigner, until, withKey } from './support';

describe('certificates from elsewhere renewed under a Signet profile', () => {
  const prefix = `signet-test-renew-profile-${runId()}`;
  const { dir, openssl, file } = opensslWorkspace('signet-renew-profile-');
  let databaseUrl: string;
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let db: Client;
  let adminKey: string;
  let otherOrgKey: string;
  let issuingId: string;
  let profileId: string;
  const api = (key = adminKey) => withKey(gateway.getHttpServer(), key);
  const ok = (result: { ok: boolean; out: string }) => {
    if (!result.ok) throw new Error(result.out);
    return result.out;
  };
  /** A leaf of the outside CA for these names (its key in <name>.key, the certificate in <name>.pem). */
  const outsideLeaf = (name: string, sans: string[], days = 20) => {
    ok(openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Elsewhere Inc/CN=${sans[0]}`));
    file(`${name}.ext`, `basicConstraints=CA:FALSE\nsubjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
    ok(openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'outside-root.pem', '-CAkey', 'outside-root.key', '-out', `${name}.pem`, '-days', String(days), '-extfile', `${name}.ext`));
    return { certificatePem: ok(openssl('x509', '-in', `${name}.pem`)), privateKeyPem: ok(openssl('pkey', '-in', `${name}.key`)), chainPem: ok(openssl('x509', '-in', 'outside-root.pem')) };
  };
  const publicKeyOf = (pemFile: string) => ok(openssl('x509', '-in', pemFile, '-noout', '-pubkey'));
  const newProfile = async (body: Record<string, unknown>, key = adminKey, caId = issuingId) =>
    (await api(key).post('/api/v1/profiles', { caId, name: 'P', slug: `p-${runId()}-${Math.random().toString(36).slice(2, 8)}`, ...body }).expect(201)).body.profile;
  /** Due now: 12 hours left of a 20-day life (as revocation.e2e-spec's makeDue). */
  const makeDue = (id: string) => db.query(`UPDATE certificates SET valid_from = now() - interval '20 days', valid_to = now() + interval '12 hours' WHERE id = $1`, [id]);
  const renewProfileOf = async (id: string) => (await db.query('SELECT renew_profile_id FROM certificates WHERE id = $1', [id])).rows[0]?.renew_profile_id ?? null;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    const env = { DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix };
    signer = await startSigner({ ...env, RENEWAL_SWEEP_INTERVAL_MS: '1000' });
    gateway = await startGateway({ ...env, RATE_LIMIT_GENERAL: '100000', RATE_LIMIT_ISSUE: '100000' });
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Takeover org')).adminKey;
    otherOrgKey = (await createOrg(gateway, 'Other org')).adminKey;
    const rootId = (await api().post('/api/v1/cas', { name: 'Root', subject: { commonName: 'Takeover Root' } }).expect(201)).body.ca.id;
    issuingId = (await api().post('/api/v1/cas', { name: 'Issuing', subject: { commonName: 'Takeover Issuing' }, parentCaId: rootId }).expect(201)).body.ca.id;
    const chain: string[] = (await api().get(`/api/v1/cas/${issuingId}/chain`).expect(200)).body.chain;
    file('signet-issuing.pem', chain[0]);
    file('signet-root.pem', chain[1]);
    profileId = (await newProfile({ allowedDomains: ['elsewhere.test'], defaultValidityDays: 30, usage: 'server' })).id;
    ok(openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'outside-root.key', '-out', 'outside-root.pem', '-subj', '/CN=Outside Root',
      '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'));
  }, 120_000);
  afterAll(async () => {
    const steps: (() => Promise<unknown>)[] = [
      async () => gateway?.close(), async () => signer && stopService(signer), async () => db?.end(),
      () => dropTestDatabase(databaseUrl), () => clearRedisPrefix(process.env.REDIS_URL as string, prefix), async () => rmSync(dir, { recursive: true, force: true }),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('the sweep renews an import with autoRenew under the profile: its CA, the same names, a new kept key', async () => {
    const bundle = outsideLeaf('swept', ['www.elsewhere.test', 'api.elsewhere.test']);
    const imported = (await api().post('/api/v1/certificates/import', { ...bundle, autoRenew: true, renewalThresholdDays: 30, renewWith: { profileId } }).expect(201)).body.certificate;
    expect(imported).toMatchObject({ source: 'imported', caId: null, autoRenew: true, renewal: { status: 'scheduled' } });
    expect(await renewProfileOf(imported.id)).toBe(profileId);

    await makeDue(imported.id);
    const renewedId = await until('the sweep renews it', async () => (await api().get(`/api/v1/certificates/${imported.id}`)).body.certificate.supersededById, 20_000);
    const renewed = (await api().get(`/api/v1/certificates/${renewedId}`).expect(200)).body.certificate;
    expect(renewed).toMatchObject({
      source: 'issued', caId: issuingId, profileId, renewedFromId: imported.id, commonName: 'www.elsewhere.test', sanDns: ['www.elsewhere.test', 'api.elsewhere.test'],
      keyAlgorithm: 'ECDSA-P256', hasStoredKey: true, autoRenew: true, renewalThresholdDays: 30, status: 'active', usage: 'server',
    });
    expect(Math.round((Date.parse(renewed.validTo) - Date.parse(renewed.validFrom)) / 86_400_000)).toBe(30);
    file('swept-renewed.pem', renewed.certificatePem);
    file('swept-untrusted.pem', renewed.chainPem);
    expect(ok(openssl('verify', '-CAfile', 'signet-root.pem', '-untrusted', 'swept-untrusted.pem', 'swept-renewed.pem'))).toContain('swept-renewed.pem: OK');
    expect(ok(openssl('x509', '-in', 'swept-renewed.pem', '-noout', '-subject'))).toMatch(/O\s*=\s*Elsewhere Inc, CN\s*=\s*www\.elsewhere\.test/);
    file('swept-renewed.key', (await api().get(`/api/v1/certificates/${renewedId}/download?format=key`).expect(200)).text);
    expect(ok(openssl('pkey', '-in', 'swept-renewed.key', '-pubout'))).toBe(publicKeyOf('swept-renewed.pem'));
    expect(publicKeyOf('swept-renewed.pem')).not.toBe(publicKeyOf('swept.pem'));
    const old = (await api().get(`/api/v1/certificates/${imported.id}`).expect(200)).body.certificate;
    expect(old.renewal).toEqual({ status: 'none', lastAttemptAt: expect.any(String), lastError: null, nextAttemptAt: null });
    const audit = (await api().get(`/api/v1/audit?eventType=certificate.renew&resourceId=${renewedId}`).expect(200)).body.events;
    expect(audit).toEqual([expect.objectContaining({ outcome: 'success', actor: expect.objectContaining({ type: 'system', name: 'renewal-sweep' }) })]);
  });

  it('POST .../renew issues the renewal at once (201): a new managed key, or csr mode from a given CSR', async () => {
    const managed = (await api().post('/api/v1/certificates/import', { ...outsideLeaf('by-api', ['by-api.elsewhere.test']), renewWith: { profileId } }).expect(201)).body.certificate;
    const renewed = (await api().post(`/api/v1/certificates/${managed.id}/renew`, {}).expect(201)).body;
    expect(renewed.certificate).toMatchObject({ caId: issuingId, profileId, mode: 'managed', renewedFromId: managed.id, commonName: 'by-api.elsewhere.test', hasStoredKey: true });
    file('by-api-renewed.pem', renewed.certificate.certificatePem);
    file('by-api-renewed.key', renewed.privateKey);
    expect(ok(openssl('pkey', '-in', 'by-api-renewed.key', '-pubout'))).toBe(publicKeyOf('by-api-renewed.pem'));
    expect((await api().get(`/api/v1/certificates/${managed.id}`).expect(200)).body.certificate.supersededById).toBe(renewed.certificate.id);
    const again = await api().post(`/api/v1/certificates/${managed.id}/renew`, {});
    expectErrorShape(again.body, 'conflict', 409);

    // Without its key (a certificate only): a CSR makes the renewal csr-mode, with the CSR's key.
    const bare = outsideLeaf('by-csr', ['by-csr.elsewhere.test']);
    const keyless = (await api().post('/api/v1/certificates/import', { certificatePem: bare.certificatePem, chainPem: bare.chainPem, renewWith: { profileId } }).expect(201)).body.certificate;
    ok(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'fresh.key', '-out', 'fresh.csr', '-subj', '/CN=by-csr.elsewhere.test'));
    const fromCsr = (await api().post(`/api/v1/certificates/${keyless.id}/renew`, { csrPem: ok(openssl('req', '-in', 'fresh.csr')) }).expect(201)).body;
    expect(fromCsr.certificate).toMatchObject({ caId: issuingId, profileId, mode: 'csr', sanDns: ['by-csr.elsewhere.test'], hasStoredKey: false });
    expect(fromCsr.privateKey).toBeUndefined();
    file('by-csr-renewed.pem', fromCsr.certificate.certificatePem);
    expect(publicKeyOf('by-csr-renewed.pem')).toBe(ok(openssl('pkey', '-in', 'fresh.key', '-pubout')));
  });

  it('asks the profile first: names it refuses, approval, another org, none, both ways at once are 4xx and nothing is kept', async () => {
    const narrow = await newProfile({ allowedDomains: ['other.test'] });
    const fourEyes = await newProfile({ allowedDomains: ['elsewhere.test'], requireApproval: true });
    const foreignCa = (await api(otherOrgKey).post('/api/v1/cas', { name: 'Theirs', subject: { commonName: 'Their Root' } }).expect(201)).body.ca.id;
    const foreign = await newProfile({}, otherOrgKey, foreignCa);
    const bundle = outsideLeaf('refused', ['refused.elsewhere.test']);
    const importWith = (renewWith: unknown, extra: object = {}) => api().post('/api/v1/certificates/import', { ...bundle, autoRenew: true, renewWith, ...extra });

    const names = await importWith({ profileId: narrow.id });
    expectErrorShape(names.body, 'policy_violation', 422);
    expect(names.body.error).toMatch(/refused\.elsewhere\.test/);
    const approval = await importWith({ profileId: fourEyes.id });
    expectErrorShape(approval.body, 'policy_violation', 422);
    expect(approval.body.details).toMatchObject({ rule: 'requireApproval', field: 'renewWith.profileId' });
    expectErrorShape((await importWith({ profileId: foreign.id })).body, 'not_found', 404);
    expectErrorShape((await importWith({ profileId: '00000000-0000-4000-8000-000000000000' })).body, 'not_found', 404);
    for (const renewWith of [{ profileId, acmeAccountId: '00000000-0000-4000-8000-000000000000' }, {}, { profileId: 'not-a-uuid' }, { profileId, challengeType: 'http-01' }, { profileId: null }]) {
      expectErrorShape((await importWith(renewWith)).body, 'validation_failed', 400);
    }
    const noWay = await api().post('/api/v1/certificates/import', { ...bundle, autoRenew: true });
    expect([noWay.status, noWay.body.details?.rule]).toEqual([422, 'autoRenew']);
    // None of it was stored: the same certificate imports now, without a way to renew.
    const plain = (await api().post('/api/v1/certificates/import', bundle).expect(201)).body.certificate;
    expect(await renewProfileOf(plain.id)).toBeNull();

    // PATCH: the same checks; autoRenew needs a way; then the profile is kept.
    expect((await api().patch(`/api/v1/certificates/${plain.id}`, { autoRenew: true })).body.details?.rule).toBe('autoRenew');
    expectErrorShape((await api().patch(`/api/v1/certificates/${plain.id}`, { renewWith: { profileId: narrow.id }, autoRenew: true })).body, 'policy_violation', 422);
    expect(await renewProfileOf(plain.id)).toBeNull();
    const patched = (await api().patch(`/api/v1/certificates/${plain.id}`, { renewWith: { profileId }, autoRenew: true }).expect(200)).body.certificate;
    expect(patched).toMatchObject({ autoRenew: true, renewal: { status: 'scheduled' } });
    expect(await renewProfileOf(plain.id)).toBe(profileId);
    // A Signet certificate renews under its own CA and profile.
    const own = (await api().post('/api/v1/certificates', { profileId, commonName: 'own.elsewhere.test' }).expect(201)).body.certificate;
    expectErrorShape((await api().patch(`/api/v1/certificates/${own.id}`, { renewWith: { profileId } })).body, 'validation_failed', 400);
  });

  it('a profile deleted later: the sweep records the failed renewal on the certificate, and POST .../renew is 409', async () => {
    const doomed = await newProfile({ allowedDomains: ['elsewhere.test'] });
    const imported = (await api().post('/api/v1/certificates/import', { ...outsideLeaf('orphan', ['orphan.elsewhere.test']), autoRenew: true, renewWith: { profileId: doomed.id } }).expect(201)).body.certificate;
    await api().delete(`/api/v1/profiles/${doomed.id}`).expect(204);
    await makeDue(imported.id);
    const failed = await until('the failed renewal is recorded', async () => {
      const { certificate } = (await api().get(`/api/v1/certificates/${imported.id}`)).body;
      return certificate.renewal.status === 'failed' && certificate;
    }, 20_000);
    expect(failed.renewal.lastError).toMatch(/deleted/);
    expect(failed.supersededById).toBeNull();
    const renew = await api().post(`/api/v1/certificates/${imported.id}/renew`, {});
    expectErrorShape(renew.body, 'conflict', 409);
    const audit = (await api().get(`/api/v1/audit?eventType=certificate.renew&resourceId=${imported.id}`).expect(200)).body.events;
    expect(audit[0]).toMatchObject({ outcome: 'failed', details: expect.objectContaining({ profileId: doomed.id }) });
  });
});
