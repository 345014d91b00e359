/**
 * The OpenAPI document against the contract and against real answers: every /api/v1 operation has a
 * documented success response and error responses in the Error schema; the certificate schema has
 * API.md's fields; and what the gateway (with a real signer) actually answers validates against the
 * documented schema (a small hand-written checker: property names, required fields, types, enums).
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import request from 'supertest';
import { TEST_ADMIN_KEY, bearer, createOrg, sleep, startGateway, uniqueSlug, startSigner } from './support';

type Schema = {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  nullable?: boolean;
  oneOf?: Schema[];
  allOf?: Schema[];
  format?: string;
};
type Response = { description?: string; content?: Record<string, { schema?: Schema }>; headers?: Record<string, unknown> };
type Operation = { responses: Record<string, Response>; requestBody?: { content: Record<string, { schema: Schema }> } };
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema>; headers: Record<string, unknown> } };

const CERTIFICATE_FIELDS = [
  'id', 'caId', 'commonName', 'subject', 'sanDns', 'sanIp', 'sanEmail', 'sanUri', 'keyAlgorithm', 'serialNumber', 'fingerprintSha256',
  'usage', 'extendedKeyUsage', 'mode', 'validFrom', 'validTo', 'daysRemaining', 'status', 'revokedAt', 'revocationReason', 'autoRenew',
  'renewalThresholdDays', 'renewedFromId', 'supersededById', 'hasStoredKey', 'notes', 'createdAt',
  // API.md section 5
  'profileId', 'environment',
  // issue 18: a revocation's comments
  'revocationComments',
  // API.md sections 7 and 8: where it came from, the ACME account that ordered it
  'source', 'acmeAccountId',
  // API.md section 8: renewal state, the issuer of every certificate
  'renewal', 'expiringSoon', 'issuer',
];
const ERROR_REF = '#/components/schemas/Error';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('OpenAPI document', () => {
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let doc: Document;

  const resolve = (schema: Schema): Schema => {
    let s = schema;
    while (s.$ref) {
      const name = s.$ref.replace('#/components/schemas/', '');
      if (!doc.components.schemas[name]) throw new Error(`unknown schema ${s.$ref}`);
      s = doc.components.schemas[name];
    }
    return s;
  };

  /** Problems of `value` against `schema`, each with its JSON path; [] when it conforms. */
  function check(schema: Schema, value: unknown, path = '$'): string[] {
    const s = resolve(schema);
    if (value === null) return s.nullable ? [] : [`${path}: null, but not nullable`];
    if (s.oneOf) return s.oneOf.some((branch) => check(branch, value, path).length === 0) ? [] : [`${path}: matches no oneOf branch`];
    if (s.allOf) return s.allOf.flatMap((part) => check(part, value, path));
    if (s.enum && !s.enum.includes(value)) return [`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`];
    const type = s.type ?? (s.properties ? 'object' : undefined);
    switch (type) {
      case 'string':
        return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
      case 'boolean':
        return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`];
      case 'integer':
        return Number.isInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
      case 'number':
        return typeof value === 'number' ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
      case 'array':
        if (!Array.isArray(value)) return [`${path}: expected an array`];
        return value.flatMap((item, i) => (s.items ? check(s.items, item, `${path}[${i}]`) : []));
      case 'object': {
        if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object`];
        const record = value as Record<string, unknown>;
        const properties = s.properties ?? {};
        const missing = (s.required ?? []).filter((name) => !(name in record)).map((name) => `${path}.${name}: required, missing`);
        const rest = Object.entries(record).flatMap(([name, v]) => {
          if (properties[name]) return check(properties[name], v, `${path}.${name}`);
          if (s.additionalProperties === undefined && s.properties) return [`${path}.${name}: not in the schema`];
          return typeof s.additionalProperties === 'object' ? check(s.additionalProperties, v, `${path}.${name}`) : [];
        });
        return [...missing, ...rest];
      }
      default:
        return [];
    }
  }

  const operations = () =>
    Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, item]) => Object.entries(item).filter(([method]) => METHODS.includes(method)).map(([method, op]) => ({ path, method, op })));

  /** Check a real response against the documented one for its route and status, headers included. */
  function conforms(path: string, method: string, res: request.Response): void {
    const documented = doc.paths[path]?.[method]?.responses[String(res.status)];
    if (!documented) throw new Error(`${method.toUpperCase()} ${path}: status ${res.status} is not documented (${JSON.stringify(res.body)})`);
    const schema = documented.content?.['application/json']?.schema;
    if (!schema) throw new Error(`${method.toUpperCase()} ${path} ${res.status}: no JSON schema`);
    expect({ route: `${method.toUpperCase()} ${path}`, problems: check(schema, res.body) }).toEqual({ route: `${method.toUpperCase()} ${path}`, problems: [] });
    // The component headers (X-Request-Id, rate limit) are always sent; others when marked required.
    const sent = Object.entries(documented.headers ?? {}).filter(([, h]) => (h as { $ref?: string; required?: boolean }).$ref || (h as { required?: boolean }).required);
    for (const [name] of sent) expect({ header: name, value: res.headers[name.toLowerCase()] }).toEqual({ header: name, value: expect.any(String) });
  }

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    doc = (await request(http).get('/api/v1/openapi.json').expect(200)).body;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  it('gives every /api/v1 operation a success response with a schema (downloads: their content types)', () => {
    expect(operations().length).toBeGreaterThan(25);
    for (const { path, method, op } of operations()) {
      const success = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      // One success answer each; issuing also has its 202 (a request waiting for approval, API.md section 6), and
      // renewing its 202 (a certificate from an outside ACME CA: its renewal order there, API.md section 8).
      const expected = ['post /api/v1/certificates', 'post /api/v1/certificates/{id}/renew'].includes(`${method} ${path}`) ? ['201', '202'] : [success[0]?.[0]];
      expect({ route: `${method} ${path}`, success: success.map(([status]) => status) }).toEqual({ route: `${method} ${path}`, success: expected });
      const [status, response] = success[0];
      if (status === '204') {
        expect(response.content).toBeUndefined();
        continue;
      }
      for (const [, answer] of success) expect(Object.keys(answer.content ?? {}).length).toBeGreaterThan(0);
      const content = Object.entries(response.content ?? {});
      expect({ route: `${method} ${path}`, hasContent: content.length > 0 }).toEqual({ route: `${method} ${path}`, hasContent: true });
      for (const [, media] of content) {
        expect(media.schema).toBeDefined();
        const schema = resolve(media.schema!);
        // No bare `{type: object}`: a JSON answer names its properties.
        if (schema.type === 'object') expect({ route: `${method} ${path}`, properties: Object.keys(schema.properties ?? {}).length > 0 }).toEqual({ route: `${method} ${path}`, properties: true });
      }
    }
    const downloads = ['application/json', 'application/pkcs10', 'application/pkix-cert', 'application/x-pem-file', 'application/x-pkcs12', 'application/zip'];
    expect(Object.keys(doc.paths['/api/v1/certificates/{id}/download'].get.responses['200'].content!).sort()).toEqual(downloads);
    expect(Object.keys(doc.paths['/api/v1/certificates/{id}/download'].post.responses['200'].content!).sort()).toEqual(downloads);
    expect(Object.keys(doc.paths['/api/v1/cas/{id}/crl'].get.responses['200'].content!).sort()).toEqual(['application/json', 'application/pkix-crl', 'application/x-pem-file']);
  });

  it('lists the error responses of every /api/v1 operation, all in the Error schema, with the rate-limit headers', () => {
    for (const { path, method, op } of operations()) {
      const route = `${method} ${path}`;
      const errors = Object.entries(op.responses).filter(([status]) => /^[45]\d\d$/.test(status));
      expect({ route, statuses: errors.map(([status]) => status) }).toEqual({ route, statuses: expect.arrayContaining(['400', '401', '429', '500']) });
      if (path !== '/api/v1/whoami') expect({ route, forbidden: '403' in op.responses }).toEqual({ route, forbidden: true });
      if (path.includes('{id}')) expect({ route, notFound: '404' in op.responses }).toEqual({ route, notFound: true });
      if (op.requestBody) expect({ route, body: ['413', '415'].every((s) => s in op.responses) }).toEqual({ route, body: true });
      for (const [status, response] of errors) {
        expect({ route, status, schema: response.content?.['application/json']?.schema?.$ref }).toEqual({ route, status, schema: ERROR_REF });
      }
      for (const [status, response] of Object.entries(op.responses)) {
        expect({ route, status, headers: Object.keys(response.headers ?? {}) }).toEqual({
          route, status, headers: expect.arrayContaining(['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']),
        });
      }
      expect(Object.keys(op.responses['429'].headers ?? {})).toContain('Retry-After');
    }
    for (const name of ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After', 'X-Request-Id']) expect(doc.components.headers[name]).toBeDefined();
    // Statuses each route can give beyond the common ones.
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses);
    expect(statuses('/api/v1/certificates', 'post')).toEqual(expect.arrayContaining(['404', '409', '422', '503']));
    expect(statuses('/api/v1/certificates/{id}/revoke', 'post')).toEqual(expect.arrayContaining(['404', '409']));
    expect(statuses('/api/v1/platform/orgs', 'post')).toContain('409');
    expect(statuses('/api/v1/profiles', 'post')).toContain('409');
    expect(statuses('/api/v1/profiles/{id}', 'patch')).toEqual(expect.arrayContaining(['404', '409']));
    expect(Object.keys(doc.paths['/api/v1/profiles/{id}'].delete.responses)).toEqual(expect.arrayContaining(['204', '404']));
  });

  it("describes the certificate with API.md's fields, the batch request forms and the ops endpoints", () => {
    const certificate = doc.components.schemas.CertificateView;
    expect(Object.keys(certificate.properties!).sort()).toEqual([...CERTIFICATE_FIELDS].sort());
    expect([...certificate.required!].sort()).toEqual([...CERTIFICATE_FIELDS].sort());
    const withPem = resolve(resolve(doc.paths['/api/v1/certificates/{id}'].get.responses['200'].content!['application/json'].schema!).properties!.certificate);
    expect(Object.keys(withPem.properties!).sort()).toEqual([...CERTIFICATE_FIELDS, 'certificatePem', 'chainPem'].sort());

    const batch = doc.paths['/api/v1/certificates/batch'].post.requestBody!.content['application/json'].schema;
    const [items, rows] = batch.oneOf!.map(resolve);
    expect(items.properties!.items.items!.$ref).toBe('#/components/schemas/IssueCertificateDto');
    expect(Object.keys(rows.properties!)).toEqual(expect.arrayContaining(['caId', 'headers', 'rows']));

    expect(doc.paths['/healthz'].get.responses['200'].content!['application/json'].schema).toBeDefined();
    expect(Object.keys(doc.paths['/readyz'].get.responses).sort()).toEqual(['200', '503']);
    expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content!)[0]).toMatch(/^text\/plain/);
  });

  it('documents what the gateway really answers', async () => {
    const platform = bearer(TEST_ADMIN_KEY);
    const created = await request(http).post('/api/v1/platform/orgs').set(platform).send({ name: 'OpenAPI org', slug: uniqueSlug('oa') });
    conforms('/api/v1/platform/orgs', 'post', created);
    const admin = bearer(created.body.adminKey);
    conforms('/api/v1/platform/orgs', 'get', await request(http).get('/api/v1/platform/orgs').set(platform));
    conforms('/api/v1/platform/orgs/{id}', 'get', await request(http).get(`/api/v1/platform/orgs/${created.body.org.id}`).set(platform));
    conforms('/api/v1/platform/api-keys', 'get', await request(http).get('/api/v1/platform/api-keys').set(platform));
    conforms('/api/v1/whoami', 'get', await request(http).get('/api/v1/whoami').set(platform));
    conforms('/api/v1/whoami', 'get', await request(http).get('/api/v1/whoami').set(admin));

    const root = await request(http).post('/api/v1/cas').set(admin).send({ name: 'Root', subject: { commonName: 'OpenAPI Root' } });
    conforms('/api/v1/cas', 'post', root);
    const rootId = root.body.ca.id;
    const issuing = await request(http).post('/api/v1/cas').set(admin).send({ name: 'Issuing', subject: { commonName: 'OpenAPI Issuing' }, parentCaId: rootId });
    conforms('/api/v1/cas', 'post', issuing);
    const caId = issuing.body.ca.id;
    conforms('/api/v1/cas', 'get', await request(http).get('/api/v1/cas').set(admin));
    conforms('/api/v1/cas/{id}', 'get', await request(http).get(`/api/v1/cas/${caId}`).set(admin));
    conforms('/api/v1/cas/{id}/chain', 'get', await request(http).get(`/api/v1/cas/${caId}/chain`).set(admin));

    const member = await request(http).post('/api/v1/api-keys').set(admin).send({ name: 'reader', role: 'member', permissions: { [caId]: { read: true, issue: false, revoke: false } } });
    conforms('/api/v1/api-keys', 'post', member);
    conforms('/api/v1/api-keys', 'get', await request(http).get('/api/v1/api-keys').set(admin));
    conforms('/api/v1/whoami', 'get', await request(http).get('/api/v1/whoami').set(bearer(member.body.key)));

    const issued = await request(http).post('/api/v1/certificates').set(admin).send({ caId, commonName: 'www.openapi.test', sanDns: ['api.openapi.test'], storeKey: true, notes: 'n' });
    conforms('/api/v1/certificates', 'post', issued);
    expect(issued.body.privateKey).toEqual(expect.any(String));
    const id = issued.body.certificate.id;
    // The checker does see undocumented and missing fields.
    const { notes: _notes, ...withoutNotes } = issued.body.certificate;
    expect(check({ $ref: '#/components/schemas/CertificateWithPemView' }, { ...withoutNotes, surprise: 1 })).toEqual(['$.notes: required, missing', '$.surprise: not in the schema']);
    conforms('/api/v1/certificates/{id}', 'get', await request(http).get(`/api/v1/certificates/${id}`).set(admin));
    conforms('/api/v1/certificates', 'get', await request(http).get('/api/v1/certificates').set(admin));
    conforms('/api/v1/certificates/stats', 'get', await request(http).get('/api/v1/certificates/stats').set(admin));
    conforms('/api/v1/certificates/{id}', 'patch', await request(http).patch(`/api/v1/certificates/${id}`).set(admin).send({ autoRenew: true, notes: null }));
    conforms('/api/v1/certificates/{id}/download', 'get', await request(http).get(`/api/v1/certificates/${id}/download?format=json`).set(admin));
    for (const format of ['pem', 'der', 'chain', 'fullchain', 'key', 'zip']) {
      const file = await request(http).get(`/api/v1/certificates/${id}/download?format=${format}`).set(admin).expect(200);
      expect(Object.keys(doc.paths['/api/v1/certificates/{id}/download'].get.responses['200'].content!)).toContain(file.headers['content-type'].split(';')[0]);
      expect(file.headers['content-disposition']).toMatch(/^attachment; filename=/);
    }

    const renewed = await request(http).post(`/api/v1/certificates/${id}/renew`).set(admin).send({});
    conforms('/api/v1/certificates/{id}/renew', 'post', renewed);
    const revoked = await request(http).post(`/api/v1/certificates/${id}/revoke`).set(admin).send({ reason: 'superseded' });
    conforms('/api/v1/certificates/{id}/revoke', 'post', revoked);
    conforms('/api/v1/certificates/{id}/revoke', 'post', await request(http).post(`/api/v1/certificates/${id}/revoke`).set(admin).send({}));
    conforms('/api/v1/ocsp/status/{serial}', 'get', await request(http).get(`/api/v1/ocsp/status/${issued.body.certificate.serialNumber}`).set(admin));
    conforms('/api/v1/ocsp/status/{serial}', 'get', await request(http).get('/api/v1/ocsp/status/ABCDEF').set(admin));
    conforms('/api/v1/ocsp/status/{serial}', 'get', await request(http).get(`/api/v1/ocsp/status/${BigInt(`0x${issued.body.certificate.serialNumber}`)}?serialFormat=decimal`).set(admin));

    const batch = await request(http).post('/api/v1/certificates/batch').set(admin).send({ items: [{ caId, commonName: 'b1.openapi.test' }, { caId, validityDays: 9999 }] });
    conforms('/api/v1/certificates/batch', 'post', batch);
    expect(batch.body).toMatchObject({ total: 2, successful: 1, failed: 1 });
    const rows = await request(http).post('/api/v1/certificates/batch').set(admin).send({ caId, headers: ['commonName', 'sanDns'], rows: [['r1.openapi.test', 'r1.openapi.test;r2.openapi.test']] });
    conforms('/api/v1/certificates/batch', 'post', rows);

    const profile = await request(http).post('/api/v1/profiles').set(admin).send({ name: 'Web', slug: 'web', caId, allowedDomains: ['openapi.test'], environment: 'test' });
    conforms('/api/v1/profiles', 'post', profile);
    const profileId = profile.body.profile.id;
    conforms('/api/v1/profiles', 'get', await request(http).get('/api/v1/profiles').set(admin));
    conforms('/api/v1/profiles/{id}', 'get', await request(http).get(`/api/v1/profiles/${profileId}`).set(admin));
    conforms('/api/v1/profiles/{id}', 'patch', await request(http).patch(`/api/v1/profiles/${profileId}`).set(admin).send({ usage: 'teleport', extendedKeyUsage: ['clientAuth'], description: 'd' }));
    conforms('/api/v1/profiles', 'post', await request(http).post('/api/v1/profiles').set(admin).send({ name: 'Web', slug: 'web', caId }));
    conforms('/api/v1/profiles/{id}', 'patch', await request(http).patch(`/api/v1/profiles/${profileId}`).set(admin).send({ caId: rootId }));
    const spare = await request(http).post('/api/v1/profiles').set(admin).send({ name: 'Spare', slug: 'spare', caId });
    await request(http).delete(`/api/v1/profiles/${spare.body.profile.id}`).set(admin).expect(204);
    conforms('/api/v1/profiles/{id}', 'get', await request(http).get(`/api/v1/profiles/${spare.body.profile.id}`).set(admin));

    // Certificates from elsewhere (API.md section 8): validate, and import of one the org already holds (409).
    const ownPem = issued.body.certificate.certificatePem;
    conforms('/api/v1/certificates/validate', 'post', await request(http).post('/api/v1/certificates/validate').set(admin).send({ certificatePem: ownPem, domain: 'www.openapi.test' }));
    conforms('/api/v1/certificates/validate', 'post', await request(http).post('/api/v1/certificates/validate').set(admin).send({ certificatePem: 'garbage' }));
    conforms('/api/v1/certificates/import', 'post', await request(http).post('/api/v1/certificates/import').set(admin).send({ certificatePem: ownPem }));
    conforms('/api/v1/certificates/{id}', 'delete', await request(http).delete(`/api/v1/certificates/${id}`).set(admin));

    // ACME external account binding keys (API.md section 7).
    const eab = await request(http).post('/api/v1/acme/eab-keys').set(admin).send({ profileId, name: 'certbot on web-1' });
    expect(eab.status).toBe(201);
    conforms('/api/v1/acme/eab-keys', 'post', eab);
    conforms('/api/v1/acme/eab-keys', 'post', await request(http).post('/api/v1/acme/eab-keys').set(admin).send({ profileId: 'nope' }));
    conforms('/api/v1/acme/eab-keys', 'get', await request(http).get('/api/v1/acme/eab-keys').set(admin));
    await request(http).delete(`/api/v1/acme/eab-keys/${eab.body.eabKey.id}`).set(admin).expect(204);
    conforms('/api/v1/acme/eab-keys/{id}', 'delete', await request(http).delete(`/api/v1/acme/eab-keys/${eab.body.eabKey.id}`).set(admin));

    const policy = await request(http).post('/api/v1/enrollment-policies').set(admin).send({ name: 'devices', trustedCaIds: [rootId], issuingCaId: caId, subjectRule: 'any', profileId });
    conforms('/api/v1/enrollment-policies', 'post', policy);
    conforms('/api/v1/enrollment-policies', 'get', await request(http).get('/api/v1/enrollment-policies').set(admin));
    conforms('/api/v1/audit', 'get', await request(http).get('/api/v1/audit?limit=50').set(admin));

    // The CRL is built moments after the CA; info once it is there.
    let crl = await request(http).get(`/api/v1/cas/${caId}/crl?format=info`).set(admin);
    for (let i = 0; i < 50 && crl.status === 404; i++) {
      await sleep(200);
      crl = await request(http).get(`/api/v1/cas/${caId}/crl?format=info`).set(admin);
    }
    conforms('/api/v1/cas/{id}/crl', 'get', crl);
    conforms('/api/v1/cas/{id}/revoke', 'post', await request(http).post(`/api/v1/cas/${caId}/revoke`).set(admin).send({ reason: 'cessationOfOperation' }));

    // Errors answer in the documented Error schema too.
    conforms('/api/v1/certificates/{id}', 'get', await request(http).get('/api/v1/certificates/00000000-0000-4000-8000-000000000000').set(admin));
    conforms('/api/v1/certificates', 'post', await request(http).post('/api/v1/certificates').set(admin).send({ caId }));
    conforms('/api/v1/certificates', 'get', await request(http).get('/api/v1/certificates').set(bearer('sgn_nope_nope')));
    conforms('/api/v1/cas', 'get', await request(http).get('/api/v1/cas').set(platform));
    conforms('/api/v1/platform/orgs', 'post', await request(http).post('/api/v1/platform/orgs').set(platform).send({ name: 'again', slug: (await createOrg(gateway)).org.slug }));
  });

  it('documents the 429 as it answers', async () => {
    const { adminKey } = await createOrg(gateway);
    const limited = await startGateway({ RATE_LIMIT_GENERAL: '2' });
    try {
      const calls = [];
      for (let i = 0; i < 3; i++) calls.push(await request(limited.getHttpServer()).get('/api/v1/whoami').set(bearer(adminKey)));
      expect(calls.map((res) => res.status)).toEqual([200, 200, 429]);
      for (const res of calls) conforms('/api/v1/whoami', 'get', res);
      expect(calls[2].headers['retry-after']).toMatch(/^\d+$/);
      expect(calls[2].body.retryAfter).toEqual(expect.any(Number));
    } finally {
      await limited.close();
    }
  });

  it('documents the ops endpoints as they answer', async () => {
    const health = await request(http).get('/healthz').expect(200);
    expect(check(doc.paths['/healthz'].get.responses['200'].content!['application/json'].schema!, health.body)).toEqual([]);
    const ready = await request(http).get('/readyz').expect(200);
    expect(check(doc.paths['/readyz'].get.responses['200'].content!['application/json'].schema!, ready.body)).toEqual([]);
  });
});
