import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { TEST_ADMIN_KEY, bearer, expectErrorShape, startGateway, uniqueSlug } from './support';

describe('gateway foundation (real PostgreSQL and Redis)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await startGateway();
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers /healthz', async () => {
    const res = await request(app.getHttpServer()).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 when PostgreSQL and Redis answer', async () => {
    const res = await request(app.getHttpServer()).get('/readyz').expect(200);
    expect(res.body.checks.postgres.status).toBe('up');
    expect(res.body.checks.redis.status).toBe('up');
  });

  it('serves Prometheus metrics', async () => {
    await request(app.getHttpServer()).get('/healthz');
    const res = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toContain('signet_http_requests_total');
    expect(res.text).toContain('signet_process_cpu_seconds_total');
  });

  it('serves the OpenAPI document with the error schema and bearer auth', async () => {
    const res = await request(app.getHttpServer()).get('/api/v1/openapi.json').expect(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(res.body.components.schemas.Error.properties.code.enum).toContain('validation_failed');
    expect(res.body.components.securitySchemes.apiKey.scheme).toBe('bearer');
    // Every route of API.md is described, the hand-written public PKI ones included.
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining([
      '/api/v1/cas/import', '/api/v1/cas/{id}/crl', '/api/v1/certificates/{id}/download', '/api/v1/ocsp/status/{serial}',
      '/pki/ocsp', '/pki/ocsp/{request}', '/pki/cas/{caId}/crl', '/pki/cas/{caId}/ca.crt',
    ]));
  });

  it('describes Idempotency-Key once, as optional, and a created CA as {ca}', async () => {
    const res = await request(app.getHttpServer()).get('/api/v1/openapi.json').expect(200);
    const issue = res.body.paths['/api/v1/certificates'].post;
    const headers = issue.parameters.filter((p: { in: string; name: string }) => p.in === 'header' && /^idempotency-key$/i.test(p.name));
    expect(headers).toEqual([expect.objectContaining({ name: 'Idempotency-Key', required: false })]);
    const created = res.body.paths['/api/v1/cas'].post.responses['201'].content['application/json'].schema.$ref;
    expect(res.body.components.schemas[created.split('/').pop()].properties.ca).toBeDefined();
  });

  it('refuses bodies that are not JSON (415) and bodies it cannot decode (400), never 500', async () => {
    const http = app.getHttpServer();
    expectErrorShape((await request(http).post('/api/v1/cas').set('Content-Type', 'application/x-www-form-urlencoded').send('name=x').expect(415)).body, 'unsupported_media_type', 415);
    // A structured-syntax +json type is JSON: read, not let through unread.
    await request(http).post('/api/v1/platform/orgs').set(bearer(TEST_ADMIN_KEY)).set('Content-Type', 'application/vnd.signet+json')
      .send(JSON.stringify({ name: 'Typed org', slug: uniqueSlug('typed') })).expect(201);
    const corrupt = await request(http).post('/api/v1/cas').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send(Buffer.from('not gzip at all'));
    expectErrorShape(corrupt.body, 'bad_request', 400);
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const res = await request(app.getHttpServer()).get('/api/v1/no-such-thing').expect(404);
    expectErrorShape(res.body, 'not_found', 404);
  });

  it('answers malformed JSON with 400 bad_request', async () => {
    const res = await request(app.getHttpServer())
      .post('/api/v1/anything')
      .set('Content-Type', 'application/json')
      .send('{"name": ')
      .expect(400);
    expectErrorShape(res.body, 'bad_request', 400);
  });

  it('answers a body over the limit with 413 payload_too_large', async () => {
    const res = await request(app.getHttpServer())
      .post('/api/v1/anything')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ blob: 'a'.repeat(1024 * 1024 + 10) }))
      .expect(413);
    expectErrorShape(res.body, 'payload_too_large', 413);
  });

  it('echoes a caller X-Request-Id, in the header and the error body', async () => {
    const res = await request(app.getHttpServer()).get('/nope').set('X-Request-Id', 'trace-123').expect(404);
    expect(res.headers['x-request-id']).toBe('trace-123');
    expect(res.body.requestId).toBe('trace-123');
  });

  it('makes up a request id when the caller sends none, or an unsafe one', async () => {
    const res = await request(app.getHttpServer()).get('/healthz').set('X-Request-Id', 'bad id\twith spaces');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('gateway readiness with Redis unreachable', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    // Nothing listens on port 1: every Redis command fails, the app itself still starts.
    app = await startGateway({ REDIS_URL: 'redis://127.0.0.1:1' });
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers /readyz 503 naming redis, while /healthz stays 200', async () => {
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.body.status).toBe('not_ready');
    expect(res.body.checks.redis.status).toBe('down');
    expect(res.body.checks.postgres.status).toBe('up');
    await request(app.getHttpServer()).get('/healthz').expect(200);
  });
});
