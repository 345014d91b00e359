/**
 * Values no store can carry (a NUL, an unpaired UTF-16 surrogate), JSON nested past any request's
 * shape, and dates and cursors PostgreSQL cannot read: each is a 400 in the API.md error shape, refused
 * in validation before the queue, and never sinks the requests travelling with it (issue 18, findings
 * 2 and 5). Against the real stack: the gateway, a built signer, PostgreSQL and Redis.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Tag } from '@signet/pki';
import { RunningService, bmpBytes, craftedCsr, stopService } from '@signet/testing';
import { Client } from 'pg';
import request from 'supertest';
import { AuditService } from '../src/app/audit/audit.service';
import { TEST_ADMIN_KEY, withKey, bearer, createOrg, expectErrorShape, startGateway, startSigner, uniqueSlug } from './support';

const NUL = 'a\u0000b';
const HIGH = 'a\ud800b';
const LOW = 'a\udc00';

describe('hostile values', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let adminKey: string;
  let caId: string;
  let certificateId: string;

  const api = (key = adminKey) => withKey(http, key);
  const fieldsOf = (res: request.Response) => (res.body.details?.fields ?? []).map((f: { field: string }) => f.field);
  const count = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows[0].n as number;

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Hostile org')).adminKey;
    caId = (await api().post('/api/v1/cas', { name: 'Root', subject: { commonName: 'Hostile Root' } }).expect(201)).body.ca.id;
    certificateId = (await api().post('/api/v1/certificates', { caId, commonName: 'kept.example.test' }).expect(201)).body.certificate.id;
  });
  afterAll(async () => {
    await db?.end();
    await gateway?.close();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('refuses a NUL or an unpaired surrogate anywhere in a body, query or route parameter with 400 naming the field', async () => {
    const before = await count('SELECT count(*)::int AS n FROM certificates');
    const platform = api(TEST_ADMIN_KEY);
    const cases: [string, () => request.Test, string][] = [
      ['notes on issue', () => api().post('/api/v1/certificates', { caId, commonName: 'n.example.test', notes: NUL }), 'notes'],
      ['commonName', () => api().post('/api/v1/certificates', { caId, commonName: HIGH }), 'commonName'],
      ['subject', () => api().post('/api/v1/certificates', { caId, commonName: 's.example.test', subject: { organization: LOW } }), 'subject.organization'],
      ['usage on issue', () => api().post('/api/v1/certificates', { caId, commonName: 'u.example.test', usage: NUL, extendedKeyUsage: ['serverAuth'] }), 'usage'],
      ['a SAN', () => api().post('/api/v1/certificates', { caId, commonName: 'x.example.test', sanDns: ['ok.example.test', NUL] }), 'sanDns.1'],
      ['a key of the body', () => api().post('/api/v1/certificates', { caId, commonName: 'k.example.test', subject: { [NUL]: 'x' } }), 'subject'],
      ['PATCH notes', () => api().patch(`/api/v1/certificates/${certificateId}`, { notes: NUL }), 'notes'],
      ['PATCH notes, a surrogate', () => api().patch(`/api/v1/certificates/${certificateId}`, { notes: HIGH }), 'notes'],
      ['search', () => api().get('/api/v1/certificates?search=a%00b'), 'search'],
      ['usage filter', () => api().get('/api/v1/certificates?usage=a%00'), 'usage'],
      ['audit resourceId', () => api().get('/api/v1/audit?resourceId=a%00b'), 'resourceId'],
      ['a route parameter', () => api().get('/api/v1/certificates/a%00b'), 'id'],
      ['API key name', () => api().post('/api/v1/api-keys', { name: NUL, role: 'admin' }), 'name'],
      ['API key name, a surrogate', () => api().post('/api/v1/api-keys', { name: LOW, role: 'admin' }), 'name'],
      ['platform key name', () => platform.post('/api/v1/platform/api-keys', { name: HIGH }), 'name'],
      ['org name', () => platform.post('/api/v1/platform/orgs', { name: NUL, slug: uniqueSlug() }), 'name'],
      ['org name, a surrogate', () => platform.post('/api/v1/platform/orgs', { name: HIGH, slug: uniqueSlug() }), 'name'],
      ['CA name', () => api().post('/api/v1/cas', { name: NUL, subject: { commonName: 'CA' } }), 'name'],
      ['CA name, a surrogate', () => api().post('/api/v1/cas', { name: LOW, subject: { commonName: 'CA' } }), 'name'],
      ['CA common name', () => api().post('/api/v1/cas', { name: 'CA', subject: { commonName: HIGH } }), 'subject.commonName'],
      ['policy name', () => api().post('/api/v1/enrollment-policies', { name: NUL, trustedCaIds: [caId], issuingCaId: caId, subjectRule: 'any' }), 'name'],
      ['policy name, a surrogate', () => api().post('/api/v1/enrollment-policies', { name: HIGH, trustedCaIds: [caId], issuingCaId: caId, subjectRule: 'any' }), 'name'],
    ];
    for (const [what, send, field] of cases) {
      const res = await send();
      expect({ what, status: res.status, code: res.body.code, fields: fieldsOf(res) }).toEqual({ what, status: 400, code: 'validation_failed', fields: [field] });
      expectErrorShape(res.body, 'validation_failed', 400);
    }
    expect(await count('SELECT count(*)::int AS n FROM certificates')).toBe(before);
    // A well-formed pair (an emoji) is text like any other.
    const emoji = await api().patch(`/api/v1/certificates/${certificateId}`, { notes: 'ok \ud83d\ude00' }).expect(200);
    expect(emoji.body.certificate.notes).toBe('ok \u{1F600}');
    // The refused requests' audit events were written (a NUL id did not sink the batch of events with it).
    // (Recorded when the response finishes on the server, which may come a moment after the client has it.)
    const refusedEvents = () => count(`SELECT count(*)::int AS n FROM audit_events WHERE details->>'path' = '/api/v1/certificates/a%00b' AND outcome = 'failed'`);
    for (let i = 0; i < 50 && (await refusedEvents()) === 0; i++) {
      await gateway.get(AuditService).flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await refusedEvents()).toBe(1);
  });

  it('refuses JSON nested 10,000 deep on every JSON route with 400, before reading it', async () => {
    type Operation = { requestBody?: { content: Record<string, unknown> } };
    const doc = (await request(http).get('/api/v1/openapi.json').expect(200)).body as { paths: Record<string, Record<string, Operation>> };
    const routes = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations).filter(([, op]) => op.requestBody?.content['application/json']).map(([method]) => [method, path.replace(/\{\w+\}/g, certificateId)] as const));
    expect(routes.length).toBeGreaterThanOrEqual(10);
    const deep = `{"items":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const deepObject = `{"subject":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    for (const [method, path] of routes) {
      for (const body of [deep, deepObject]) {
        const res = await request(http)[method as 'post'](path).set(bearer(adminKey)).set('Content-Type', 'application/json').send(body);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 400 });
        expectErrorShape(res.body, 'bad_request', 400);
      }
    }
    // Nesting a request needs is fine.
    await api().post('/api/v1/certificates/batch', { items: [{ caId, commonName: 'nested.example.test', subject: { organization: 'Nested' } }] }).expect(201);
  });

  it('refuses dates PostgreSQL cannot read and a cursor past bigint with 400', async () => {
    for (const date of ['2024-02-30', '0000-01-01', '2024-W01', '2024-001', '2024-01-01T25:00:00Z', '2023-02-29']) {
      for (const field of ['createdFrom', 'createdTo']) {
        const res = await api().get(`/api/v1/certificates?${field}=${encodeURIComponent(date)}`);
        expect({ date, field, status: res.status, fields: fieldsOf(res) }).toEqual({ date, field, status: 400, fields: [field] });
        expectErrorShape(res.body, 'validation_failed', 400);
      }
    }
    for (const date of ['2024-02-29', '2024-01-01T10:00:00Z', '2024-01-01T10:00:00.123+02:00']) {
      await api().get(`/api/v1/certificates?createdFrom=${encodeURIComponent(date)}`).expect(200);
    }
    const week = await api().post('/api/v1/api-keys', { name: 'week', role: 'admin', expiresAt: '2099-W01' });
    expect({ status: week.status, fields: fieldsOf(week) }).toEqual({ status: 400, fields: ['expiresAt'] });
    const cursor = await api().get('/api/v1/audit?cursor=9999999999999999999');
    expect({ status: cursor.status, fields: fieldsOf(cursor) }).toEqual({ status: 400, fields: ['cursor'] });
    expectErrorShape(cursor.body, 'validation_failed', 400);
    await api().get('/api/v1/audit?cursor=9223372036854775807').expect(200);
  });

  it('a batch of 1 bad and 5 good items issues the 5 and refuses the bad one alone', async () => {
    const items = Array.from({ length: 6 }, (_, i) => ({ caId, commonName: `batch-${i}.example.test`, notes: i === 3 ? NUL : `item ${i}` }));
    const res = await api().post('/api/v1/certificates/batch', { items }).expect(201);
    expect(res.body).toMatchObject({ total: 6, successful: 5, failed: 1 });
    expect(res.body.errors).toEqual([{ index: 3, code: 'validation_failed', error: expect.stringMatching(/notes contains a NUL/) }]);
    expect(res.body.certificates.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 4, 5]);
    // CertMate rows likewise: the bad row alone.
    const rows = await api().post('/api/v1/certificates/batch', {
      caId, headers: ['commonName', 'notes'], rows: [['row-0.example.test', 'fine'], ['row-1.example.test', HIGH], ['row-2.example.test', 'fine']],
    }).expect(201);
    expect(rows.body).toMatchObject({ total: 3, successful: 2, failed: 1, errors: [{ index: 1, code: 'validation_failed' }] });
    // The batch's own fields are checked like any body.
    const caField = await api().post('/api/v1/certificates/batch', { caId: NUL, headers: ['commonName'], rows: [['r.example.test']] });
    expect({ status: caField.status, fields: fieldsOf(caField) }).toEqual({ status: 400, fields: ['caId'] });
  });

  it('refuses a CSR whose common name holds a NUL or an unpaired surrogate (UTF8String, BMPString) with 400 naming csrPem', async () => {
    const before = await count('SELECT count(*)::int AS n FROM certificates');
    const csrs = {
      'a UTF8String with a NUL': craftedCsr(Tag.UTF8_STRING, Buffer.from(NUL, 'utf8')),
      'a BMPString with an unpaired high surrogate': craftedCsr(Tag.BMP_STRING, bmpBytes([0x61, 0xd800, 0x62])),
      'a BMPString ending in an unpaired low surrogate': craftedCsr(Tag.BMP_STRING, bmpBytes([0x61, 0xdc00])),
      'a BMPString with a NUL': craftedCsr(Tag.BMP_STRING, bmpBytes([0x61, 0x00, 0x62])),
    };
    for (const [what, csrPem] of Object.entries(csrs)) {
      const res = await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem });
      expect({ what, status: res.status, code: res.body.code, fields: fieldsOf(res) }).toEqual({ what, status: 400, code: 'validation_failed', fields: ['csrPem'] });
      expect(res.body.error).toMatch(/commonName (contains a NUL|contains an unpaired)/);
    }
    // Coalesced with good requests, the bad CSR fails alone.
    const good = Array.from({ length: 5 }, (_, i) => api().post('/api/v1/certificates', { caId, commonName: `beside-${i}.example.test` }));
    const bad = api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: csrs['a BMPString with an unpaired high surrogate'] });
    const [refused, ...issued] = await Promise.all([bad, ...good]);
    expect(refused.status).toBe(400);
    expect(issued.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await count('SELECT count(*)::int AS n FROM certificates')).toBe(before + 5);
    // A well-formed BMPString (with a surrogate pair) is still read and issued.
    const pair = craftedCsr(Tag.BMP_STRING, bmpBytes([0x64, 0x65, 0x76, 0xd83d, 0xde00]));
    expect((await api().post('/api/v1/certificates', { caId, mode: 'csr', csrPem: pair }).expect(201)).body.certificate.commonName).toBe('dev\u{1F600}');
  });
});
