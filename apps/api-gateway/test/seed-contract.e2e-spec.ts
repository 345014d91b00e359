/**
 * Issue 18's seed contract gaps, each against a real signer and judged by openssl where a certificate,
 * CRL or OCSP answer is involved: expiringInDays on its own, Idempotency-Key on CSR renewals, CertMate's
 * batch columns and subject fields, a subject email, custom usage labels, revocation comments, CRL info's
 * issuer and revoked serials, decimal serials for the OCSP status, search by issuer and stats by issuer.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createOrg, expectErrorShape, opensslWorkspace, sleep, startGateway, startSigner } from './support';

const { dir, openssl, file } = opensslWorkspace('signet-seed-');
/** A fresh P-256 CSR made by openssl. */
const csrFor = (name: string, commonName: string) => {
  expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${commonName}`, '-out', `${name}.csr`).ok).toBe(true);
  return readFileSync(join(dir, `${name}.csr`), 'utf8');
};
/** openssl's view of a certificate: `-subject` in RFC 2253 and the full text. */
const opensslSees = (name: string, pem: string) => {
  file(`${name}.pem`, pem);
  return {
    subject: openssl('x509', '-in', `${name}.pem`, '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb').out.trim().replace(/^subject=/, ''),
    text: openssl('x509', '-in', `${name}.pem`, '-noout', '-text').out,
    asn1: openssl('asn1parse', '-in', `${name}.pem`).out,
  };
};

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const value = await probe();
    if (value) return value;
    await sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('seed contract gaps (issue 18)', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let rootId: string;
  let caId: string;
  let crlPagesCaId: string;
  let db: Client;

  const api = () => ({
    get: (path: string) => request(http).get(path).set(bearer(adminKey)),
    post: (path: string, body: object = {}) => request(http).post(path).set(bearer(adminKey)).send(body),
  });
  const issue = async (body: Record<string, unknown>) => (await api().post('/api/v1/certificates', { caId, ...body }).expect(201)).body;
  const ids = (res: request.Response) => res.body.certificates.map((c: { id: string }) => c.id).sort();

  beforeAll(async () => {
    signer = await startSigner({ CRL_REBUILD_DELAY_MS: '200' });
    gateway = await startGateway({ RATE_LIMIT_GENERAL: '100000', RATE_LIMIT_ISSUE: '100000' });
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Seed contract org')).adminKey;
    rootId = (await api().post('/api/v1/cas', { name: 'Seed root', subject: { commonName: 'Seed Root' } }).expect(201)).body.ca.id;
    caId = (await api().post('/api/v1/cas', {
      name: 'Seed issuing', subject: { commonName: 'Seed Issuing CA', organization: 'Seedcorp, Inc.', country: 'DE' }, parentCaId: rootId,
    }).expect(201)).body.ca.id;
  });
  afterAll(async () => {
    await gateway?.close();
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('filters on expiringInDays alone: active certificates whose validTo is within N days', async () => {
    const soon = (await issue({ commonName: 'soon.expiry.test', validityDays: 5 })).certificate;
    const later = (await issue({ commonName: 'later.expiry.test', validityDays: 20 })).certificate;
    const far = (await issue({ commonName: 'far.expiry.test', validityDays: 200 })).certificate;
    const revoked = (await issue({ commonName: 'gone.expiry.test', validityDays: 5 })).certificate;
    await api().post(`/api/v1/certificates/${revoked.id}/revoke`).expect(200);
    const list = (query: string) => api().get(`/api/v1/certificates?search=expiry.test&pageSize=100${query}`);

    expect(ids(await list('').expect(200))).toEqual([soon.id, later.id, far.id, revoked.id].sort());
    expect(ids(await list('&expiringInDays=10').expect(200))).toEqual([soon.id]);
    expect(ids(await list('&expiringInDays=30').expect(200))).toEqual([soon.id, later.id].sort());
    expect(ids(await list('&status=active&expiringInDays=10').expect(200))).toEqual([soon.id]);
    expect(ids(await list('&status=all&expiringInDays=10').expect(200))).toEqual([soon.id]);
    // status=expiring keeps API.md's default window of 30 days.
    expect(ids(await list('&status=expiring').expect(200))).toEqual([soon.id, later.id].sort());
    expect(ids(await list('&status=expiring&expiringInDays=10').expect(200))).toEqual([soon.id]);
    // Revoked and expired certificates expire ahead of nothing: the combination is refused, not ignored.
    const refused = await list('&status=revoked&expiringInDays=10').expect(400);
    expectErrorShape(refused.body, 'validation_failed', 400);
    expect(refused.body.details.fields.map((f: { field: string }) => f.field)).toEqual(['expiringInDays']);
    await list('&expiringInDays=0').expect(400);
  });

  it('replays a CSR renewal under an Idempotency-Key: sequential and racing retries get one certificate; another body is 422', async () => {
    const original = (await issue({ mode: 'csr', csrPem: csrFor('idem', 'idem.renew.test') })).certificate;
    const csrPem = csrFor('idem-next', 'idem.renew.test');
    const renew = (id: string, key: string, body: Record<string, unknown>) => api().post(`/api/v1/certificates/${id}/renew`, body).set('Idempotency-Key', key);

    const first = await renew(original.id, 'renew-1', { csrPem }).expect(201);
    expect(first.body.certificate).toMatchObject({ renewedFromId: original.id, mode: 'csr', commonName: 'idem.renew.test' });
    const again = await renew(original.id, 'renew-1', { csrPem }).expect(201);
    expect(again.body.certificate.id).toBe(first.body.certificate.id);
    expect(again.body.certificate.serialNumber).toBe(first.body.certificate.serialNumber);
    // The renewed certificate is signed for the new CSR's key.
    file('idem-renewed.pem', first.body.certificate.certificatePem);
    expect(openssl('x509', '-in', 'idem-renewed.pem', '-noout', '-pubkey').out).toBe(openssl('pkey', '-in', 'idem-next.key', '-pubout').out);
    // Without the key a second renewal is the usual 409; the key with another body is 422.
    expectErrorShape((await api().post(`/api/v1/certificates/${original.id}/renew`, { csrPem }).expect(409)).body, 'conflict', 409);
    expectErrorShape((await renew(original.id, 'renew-1', { csrPem, validityDays: 10 }).expect(422)).body, 'idempotency_mismatch', 422);

    // Twenty racing retries of one renewal: one new certificate, every answer the same.
    const racer = (await issue({ mode: 'csr', csrPem: csrFor('race', 'race.renew.test') })).certificate;
    const raceCsr = csrFor('race-next', 'race.renew.test');
    const renewals = async () => (await db.query(`SELECT count(*)::int AS n FROM certificates WHERE renewed_from_id = $1`, [racer.id])).rows[0].n;
    const racing = await Promise.all(Array.from({ length: 20 }, () => renew(racer.id, 'race-renew', { csrPem: raceCsr, validityDays: 30 })));
    expect(racing.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(racing.map((r) => r.body.certificate.id)).size).toBe(1);
    expect(await renewals()).toBe(1);
    // The same key for another certificate is another request.
    expectErrorShape((await renew(original.id, 'race-renew', { csrPem: raceCsr, validityDays: 30 }).expect(422)).body, 'idempotency_mismatch', 422);
    // A managed key cannot be replayed.
    const managed = (await issue({ commonName: 'managed.renew.test' })).certificate;
    expectErrorShape((await renew(managed.id, 'managed-renew', {}).expect(400)).body, 'bad_request', 400);
  });

  it("maps CertMate's batch columns and lets rows set subject fields", async () => {
    const res = await api().post('/api/v1/certificates/batch', {
      caId,
      headers: ['common_name', 'email', 'organization', 'organizational_unit', 'cert_usage', 'days_valid'],
      rows: [
        ['cm1.batch.test', 'ops@batch.test', 'Acme Corp', 'Web', 'server', '30'],
        ['cm2.batch.test', '', 'Acme Corp', '', 'client', '10'],
        ['cm3.batch.test', 'not an address', '', '', '', ''],
      ],
    }).expect(201);
    expect(res.body).toMatchObject({ total: 3, successful: 2, failed: 1 });
    expect(res.body.errors).toEqual([expect.objectContaining({ index: 2, code: 'validation_failed' })]);
    const [cm1, cm2] = res.body.certificates.map((c: { certificate: Record<string, unknown> }) => c.certificate);
    expect(cm1).toMatchObject({
      commonName: 'cm1.batch.test', usage: 'server', extendedKeyUsage: ['serverAuth'], daysRemaining: 29,
      subject: { commonName: 'cm1.batch.test', organization: 'Acme Corp', organizationalUnit: 'Web', emailAddress: 'ops@batch.test' },
    });
    expect(cm2).toMatchObject({ usage: 'client', extendedKeyUsage: ['clientAuth'], daysRemaining: 9, subject: { commonName: 'cm2.batch.test', organization: 'Acme Corp' } });
    expect(opensslSees('cm1', cm1.certificatePem).subject).toBe('emailAddress=ops@batch.test,CN=cm1.batch.test,OU=Web,O=Acme Corp');
    expect(opensslSees('cm1', cm1.certificatePem).text).toMatch(/TLS Web Server Authentication/);
    expect(opensslSees('cm2', cm2.certificatePem).subject).toBe('CN=cm2.batch.test,O=Acme Corp');

    // Subject fields by their API names, bare or dotted, and snake_case spellings of the others.
    const dotted = await api().post('/api/v1/certificates/batch', {
      caId,
      headers: ['commonName', 'subject.organization', 'country', 'subject.locality', 'san_dns', 'validity_days'],
      rows: [['dot.batch.test', 'Dotted Org', 'FR', 'Lyon', 'alt.batch.test', '15']],
    }).expect(201);
    expect(dotted.body).toMatchObject({ successful: 1, failed: 0 });
    const certificate = dotted.body.certificates[0].certificate;
    expect(certificate).toMatchObject({ sanDns: ['dot.batch.test', 'alt.batch.test'], daysRemaining: 14 });
    expect(opensslSees('dotted', certificate.certificatePem).subject).toBe('CN=dot.batch.test,O=Dotted Org,L=Lyon,C=FR');
    // An unknown subject field is that row's validation error, named.
    const unknown = await api().post('/api/v1/certificates/batch', { caId, headers: ['commonName', 'subject.title'], rows: [['t.batch.test', 'Chief']] }).expect(201);
    expect(unknown.body).toMatchObject({ successful: 0, failed: 1 });
    expect(unknown.body.errors[0].error).toContain('subject.title');
  });

  it("puts a subject email into the certificate as the emailAddress attribute (IA5String)", async () => {
    const issued = await issue({ commonName: 'mail.subject.test', subject: { organization: 'Mailers', email: 'pki-team@subject.test' } });
    expect(issued.certificate.subject).toEqual({ commonName: 'mail.subject.test', organization: 'Mailers', emailAddress: 'pki-team@subject.test' });
    const seen = opensslSees('subject-email', issued.certificate.certificatePem);
    expect(seen.subject).toBe('emailAddress=pki-team@subject.test,CN=mail.subject.test,O=Mailers');
    expect(seen.asn1).toMatch(/:emailAddress\s*\n.*prim: IA5STRING\s*:pki-team@subject\.test\s*\n/);
    // Not a SAN: the SANs are the common name's only.
    expect(seen.text).not.toContain('email:pki-team@subject.test');
    // A renewal keeps it.
    const renewed = (await api().post(`/api/v1/certificates/${issued.certificate.id}/renew`).expect(201)).body.certificate;
    expect(opensslSees('subject-email-renewed', renewed.certificatePem).subject).toBe('emailAddress=pki-team@subject.test,CN=mail.subject.test,O=Mailers');
    for (const email of ['no-at-sign', 'ünï@subject.test', 'a b@subject.test', 'a@b@c']) {
      const res = await api().post('/api/v1/certificates', { caId, commonName: 'bad.subject.test', subject: { email } }).expect(400);
      expect(res.body.details.fields.map((f: { field: string }) => f.field)).toEqual(['subject.email']);
    }
  });

  it('issues a custom usage label without extendedKeyUsage with serverAuth, and with its own EKU when given', async () => {
    const teapot = (await issue({ commonName: 'teapot.usage.test', usage: 'teapot' })).certificate;
    expect(teapot).toMatchObject({ usage: 'teapot', extendedKeyUsage: ['serverAuth'] });
    expect(opensslSees('teapot', teapot.certificatePem).text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication\s*\n/);
    const own = (await issue({ commonName: 'kettle.usage.test', usage: 'kettle', extendedKeyUsage: ['clientAuth', '1.3.6.1.4.1.99999.1'] })).certificate;
    expect(own).toMatchObject({ usage: 'kettle', extendedKeyUsage: ['clientAuth', '1.3.6.1.4.1.99999.1'] });
    expect(opensslSees('kettle', own.certificatePem).text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication, 1\.3\.6\.1\.4\.1\.99999\.1\s*\n/);
    expect((await api().get('/api/v1/certificates?usage=teapot').expect(200)).body.certificates.map((c: { id: string }) => c.id)).toEqual([teapot.id]);
    // A renewal keeps the label and its EKU.
    const renewed = (await api().post(`/api/v1/certificates/${teapot.id}/renew`).expect(201)).body.certificate;
    expect(renewed).toMatchObject({ usage: 'teapot', extendedKeyUsage: ['serverAuth'] });
  });

  it('returns revocation comments in the certificate and in the audit event', async () => {
    const leaf = (await issue({ commonName: 'comments.revoke.test' })).certificate;
    expect(leaf.revocationComments).toBeNull();
    const revoked = await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'key_compromise', comments: 'laptop lost on a train' }).expect(200);
    expect(revoked.body.certificate).toMatchObject({ status: 'revoked', revocationReason: 'keyCompromise', revocationComments: 'laptop lost on a train' });
    expect((await api().get(`/api/v1/certificates/${leaf.id}`).expect(200)).body.certificate.revocationComments).toBe('laptop lost on a train');
    const listed = (await api().get('/api/v1/certificates?search=comments.revoke.test').expect(200)).body.certificates[0];
    expect(listed.revocationComments).toBe('laptop lost on a train');
    const audit = await api().get(`/api/v1/audit?eventType=certificate.revoke&resourceId=${leaf.id}&outcome=success`).expect(200);
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0].details).toMatchObject({ reason: 'keyCompromise', revocationComments: 'laptop lost on a train' });
    // Without comments: null in both.
    const plain = (await issue({ commonName: 'plain.revoke.test' })).certificate;
    expect((await api().post(`/api/v1/certificates/${plain.id}/revoke`).expect(200)).body.certificate.revocationComments).toBeNull();
  });

  it("gives CRL info the issuer's DN and the revoked serials, a page at a time", async () => {
    const sub = (await api().post('/api/v1/cas', {
      name: 'CRL pages', subject: { commonName: 'CRL Pages CA', organizationalUnit: 'PKI', organization: 'Seedcorp, Inc.', country: 'DE' }, parentCaId: rootId,
    }).expect(201)).body.ca;
    crlPagesCaId = sub.id;
    const leaves = [];
    for (let i = 0; i < 5; i++) leaves.push((await api().post('/api/v1/certificates', { caId: sub.id, commonName: `crl${i}.pages.test` }).expect(201)).body.certificate);
    for (const leaf of leaves.slice(0, 3)) await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'superseded' }).expect(200);
    const info = await until('a CRL listing the three', async () => {
      const res = await api().get(`/api/v1/cas/${sub.id}/crl?format=info`);
      return res.status === 200 && res.body.revokedCount === 3 && res.body;
    });
    // Judged against the CRL itself.
    file('pages.crl', (await api().get(`/api/v1/cas/${sub.id}/crl?format=pem`).expect(200)).text);
    const issuer = openssl('crl', '-in', 'pages.crl', '-noout', '-issuer', '-nameopt', 'RFC2253,-esc_msb').out.trim().replace(/^issuer=/, '');
    expect(issuer).toBe('CN=CRL Pages CA,OU=PKI,O=Seedcorp\\, Inc.,C=DE');
    const onCrl = [...openssl('crl', '-in', 'pages.crl', '-noout', '-text').out.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]).sort();
    expect(onCrl).toEqual(leaves.slice(0, 3).map((l) => l.serialNumber).sort());
    expect(info).toMatchObject({ caId: sub.id, issuer, revokedCount: 3, revokedSerials: onCrl, nextRevokedAfter: null });

    // Pages: revokedLimit at a time, nextRevokedAfter to go on.
    const page1 = (await api().get(`/api/v1/cas/${sub.id}/crl?format=info&revokedLimit=2`).expect(200)).body;
    expect(page1).toMatchObject({ revokedSerials: onCrl.slice(0, 2), nextRevokedAfter: onCrl[1], revokedCount: 3 });
    const page2 = (await api().get(`/api/v1/cas/${sub.id}/crl?format=info&revokedLimit=2&revokedAfter=${page1.nextRevokedAfter.toLowerCase()}`).expect(200)).body;
    expect(page2).toMatchObject({ revokedSerials: onCrl.slice(2), nextRevokedAfter: null });
    for (const bad of ['revokedLimit=0', 'revokedLimit=10001', 'revokedAfter=xyz']) await api().get(`/api/v1/cas/${sub.id}/crl?format=info&${bad}`).expect(400);

    // The parent's CRL lists a revoked intermediate among its serials.
    await api().post(`/api/v1/cas/${sub.id}/revoke`, { reason: 'cessation_of_operation' }).expect(200);
    const parent = await until("the root's CRL with the intermediate", async () => {
      const res = await api().get(`/api/v1/cas/${rootId}/crl?format=info`);
      return res.status === 200 && res.body.revokedSerials.includes(sub.serialNumber) && res.body;
    });
    expect(parent.issuer).toBe('CN=Seed Root');
  });

  it('answers the OCSP status of a decimal serial with serialFormat=decimal', async () => {
    const leaf = (await issue({ commonName: 'decimal.ocsp.test' })).certificate;
    await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'affiliation_changed' }).expect(200);
    // openssl prints the serial in hex; its decimal form is the same integer.
    file('decimal.pem', leaf.certificatePem);
    const hex = openssl('x509', '-in', 'decimal.pem', '-noout', '-serial').out.trim().replace(/^serial=/, '');
    expect(hex).toBe(leaf.serialNumber);
    const decimal = BigInt(`0x${hex}`).toString(10);
    const byDecimal = await api().get(`/api/v1/ocsp/status/${decimal}?serialFormat=decimal`).expect(200);
    expect(byDecimal.body).toMatchObject({ serialNumber: leaf.serialNumber, caId, status: 'revoked', revocationReason: 'affiliationChanged' });
    expect((await api().get(`/api/v1/ocsp/status/${hex}`).expect(200)).body).toEqual(byDecimal.body);
    expect((await api().get(`/api/v1/ocsp/status/${hex}?serialFormat=hex`).expect(200)).body).toEqual(byDecimal.body);
    // A number it never issued is unknown; what is not a decimal number is a 400.
    expect((await api().get(`/api/v1/ocsp/status/12345?serialFormat=decimal`).expect(200)).body).toMatchObject({ serialNumber: '3039', status: 'unknown' });
    for (const bad of [`${hex}?serialFormat=decimal`, '0?serialFormat=decimal', `${'9'.repeat(50)}?serialFormat=decimal`, '12?serialFormat=octal']) {
      expectErrorShape((await api().get(`/api/v1/ocsp/status/${bad}`).expect(400)).body, 'validation_failed', 400);
    }
  });

  it("finds certificates by their issuer's common name or DN, and counts them by issuer name", async () => {
    const other = (await api().post('/api/v1/cas', { name: 'Other', subject: { commonName: 'Unrelated Issuer', organization: 'Elsewhere' } }).expect(201)).body.ca.id;
    const mine = (await issue({ commonName: 'www.issuer-search.test' })).certificate;
    const theirs = (await api().post('/api/v1/certificates', { caId: other, commonName: 'www.issuer-search.test' }).expect(201)).body.certificate;
    const search = async (text: string) => ids(await api().get(`/api/v1/certificates?pageSize=1000&search=${encodeURIComponent(text)}`).expect(200));

    const underSeedIssuing = ids(await api().get(`/api/v1/certificates?pageSize=1000&caId=${caId}`).expect(200));
    expect(await search('seed issuing')).toEqual(underSeedIssuing);
    expect(await search('SEED ISSUING CA')).toEqual(underSeedIssuing);
    expect(await search('CN=Seed Issuing CA,O=Seedcorp, Inc.')).toEqual(underSeedIssuing);
    expect(await search('cn = seed issuing ca, o = seedcorp')).toEqual(underSeedIssuing);
    expect(await search('O=Elsewhere')).toEqual([theirs.id]);
    expect(await search('Unrelated Issuer')).toEqual([theirs.id]);
    // The other fields still match as before.
    expect(await search('www.issuer-search.test')).toEqual([mine.id, theirs.id].sort());
    const underCrlPages = ids(await api().get(`/api/v1/certificates?pageSize=1000&caId=${crlPagesCaId}`).expect(200));
    expect(await search('C=DE')).toEqual([...underSeedIssuing, ...underCrlPages].sort());

    const stats = (await api().get('/api/v1/certificates/stats').expect(200)).body;
    const names: Record<string, string> = { [caId]: 'Seed Issuing CA', [other]: 'Unrelated Issuer', [crlPagesCaId]: 'CRL Pages CA' };
    expect(Object.keys(stats.byCa).sort()).toEqual(Object.keys(names).sort());
    expect(stats.byIssuer).toEqual(Object.fromEntries(Object.entries(stats.byCa).map(([id, n]) => [names[id], n])));
    expect(Object.values(stats.byIssuer as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(stats.total);
    const narrowed = (await api().get(`/api/v1/certificates/stats?caId=${other}`).expect(200)).body;
    expect(narrowed).toMatchObject({ byCa: { [other]: 1 }, byIssuer: { 'Unrelated Issuer': 1 } });
  });
});
