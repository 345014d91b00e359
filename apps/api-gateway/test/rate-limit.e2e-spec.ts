import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway } from './support';

describe('rate limits shared through Redis', () => {
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;
  const LIMIT = 6;

  beforeAll(async () => {
    // A prefix of their own: counters of the platform admin key are not shared with other test files.
    const overrides = { RATE_LIMIT_GENERAL: String(LIMIT), RATE_LIMIT_WINDOW_SECONDS: '60', QUEUE_PREFIX: `${process.env.QUEUE_PREFIX}-rl` };
    [a, b] = await Promise.all([startGateway(overrides), startGateway(overrides)]);
  });
  afterAll(() => Promise.all([a.close(), b.close()]));

  it('counts one key across two gateway instances and answers 429 with the API.md headers and body', async () => {
    const { adminKey } = await createOrg(a);
    // createOrg used the platform key; this key has a fresh counter.
    const { key } = await createKey(a, adminKey, { name: 'limited', role: 'member' });
    const seen: number[] = [];
    const started = Math.floor(Date.now() / 1000);
    for (let i = 0; i < LIMIT; i++) {
      const app = i % 2 ? b : a;
      const res = await request(app.getHttpServer()).get('/api/v1/whoami').set(bearer(key)).expect(200);
      expect(res.headers['x-ratelimit-limit']).toBe(String(LIMIT));
      seen.push(Number(res.headers['x-ratelimit-remaining']));
      const reset = Number(res.headers['x-ratelimit-reset']);
      // The window opens at this key's first request and lasts 60 s; allow a second of rounding each side.
      expect(reset).toBeGreaterThanOrEqual(started + 59);
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 61);
    }
    expect(seen).toEqual([5, 4, 3, 2, 1, 0]);

    const refused = await request(b.getHttpServer()).get('/api/v1/whoami').set(bearer(key)).expect(429);
    expectErrorShape(refused.body, 'rate_limited', 429);
    expect(refused.body.retryAfter).toBeGreaterThan(0);
    expect(refused.body.retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers['retry-after']).toBe(String(refused.body.retryAfter));
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');

    // Another key is not affected: the limit is per key.
    const { key: other } = await createKey(a, adminKey, { name: 'other', role: 'member' });
    await request(a.getHttpServer()).get('/api/v1/whoami').set(bearer(other)).expect(200);
  });

  it('limits requests without a valid key per client IP, before any key lookup', async () => {
    const server = a.getHttpServer();
    let last = 0;
    for (let i = 0; i < LIMIT + 1; i++) last = (await request(server).get('/api/v1/whoami').set('Authorization', 'Bearer nope')).status;
    expect(last).toBe(429);
  });

  it('counts what the guards never see (unmatched routes, refused bodies) and puts the headers on those answers too', async () => {
    const { adminKey } = await createOrg(a);
    const { key } = await createKey(a, adminKey, { name: 'stray', role: 'member' });
    const server = a.getHttpServer();
    const stray = await request(server).get('/api/v1/no-such-route').set(bearer(key)).expect(404);
    expectErrorShape(stray.body, 'not_found', 404);
    expect(stray.headers['x-ratelimit-limit']).toBe(String(LIMIT));
    expect(stray.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 1));
    const badJson = await request(server).post('/api/v1/cas').set(bearer(key)).set('Content-Type', 'application/json').send('{"name":').expect(400);
    expect(badJson.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 2));
    const notJson = await request(server).post('/api/v1/cas').set(bearer(key)).set('Content-Type', 'text/plain').send('x').expect(415);
    expect(notJson.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 3));
    // Counted against the key like any other request: past the limit, even a stray request is 429.
    for (let i = 0; i < LIMIT - 3; i++) await request(server).get('/api/v1/no-such-route').set(bearer(key)).expect(404);
    const refused = await request(b.getHttpServer()).get('/api/v1/no-such-route').set(bearer(key)).expect(429);
    expectErrorShape(refused.body, 'rate_limited', 429);
    expect(refused.headers['retry-after']).toBeDefined();
    await request(server).get('/api/v1/whoami').set(bearer(key)).expect(429);
  });

  it('never limits the public /pki endpoints', async () => {
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await request(a.getHttpServer()).get('/pki/cas/00000000-0000-4000-8000-000000000000/ca.crt').expect(404);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('never limits health probes', async () => {
    for (let i = 0; i < LIMIT + 2; i++) await request(a.getHttpServer()).get('/healthz').expect(200);
  });
});
