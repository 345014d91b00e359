/**
 * The console's static files as the gateway serves them (console-files.ts), on a directory of our own:
 * where the build is found, hashed assets against index.html, deep links, compression and revalidation,
 * and a gateway without a build saying so.
 */
import { decorateExpressCompatible } from '@signet/service';
import Fastify from 'fastify';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { CONSOLE_SECURITY_HEADERS, builtConsoleDir, consoleHook } from './console-files';

describe('console files', () => {
  let dir: string;
  const INDEX = '<!doctype html><script type="module" src="/console/assets/index-abc123.js"></script>';
  const SCRIPT = `console.log(${JSON.stringify('x'.repeat(2000))});`;
  // The gateway's set-up of it (fastify-app.ts): an onRequest hook ahead of the router, whose 404 follows.
  const apps: ReturnType<typeof Fastify>[] = [];
  const appOn = async (root: string) => {
    const app = Fastify();
    decorateExpressCompatible(app);
    app.addHook('onRequest', consoleHook(root));
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ code: 'not_found' }));
    await app.ready();
    apps.push(app);
    return app.server;
  };
  afterAll(() => Promise.all(apps.map((app) => app.close())));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'signet-console-files-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), SCRIPT);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds dist/apps/console at the repository root, built or from source', () => {
    expect(builtConsoleDir('/srv/signet/dist/apps/api-gateway/src/app/console')).toBe('/srv/signet/dist/apps/console');
    expect(builtConsoleDir('/srv/signet/apps/api-gateway/src/app/console')).toBe('/srv/signet/dist/apps/console');
  });

  it('answers index.html for /console and every deep link, not cached, with the security headers', async () => {
    for (const path of ['/console', '/console/', '/console/certificates/1234', '/console/cas']) {
      const res = await request(await appOn(dir)).get(path).expect(200);
      expect(res.text).toBe(INDEX);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) expect(res.headers[name.toLowerCase()]).toBe(value);
    }
  });

  it('serves hashed assets for a year, gzipped when asked, 304 on a matching ETag; HEAD has no body', async () => {
    const app = await appOn(dir);
    const plain = await request(app).get('/console/assets/index-abc123.js').set('Accept-Encoding', 'identity').expect(200);
    expect(plain.text).toBe(SCRIPT);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const gzipped = await request(app).get('/console/assets/index-abc123.js').set('Accept-Encoding', 'gzip').expect(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(Number(gzipped.headers['content-length'])).toBeLessThan(SCRIPT.length);
    await request(app).get('/console/assets/index-abc123.js').set('If-None-Match', plain.headers.etag).expect(304);
    const head = await request(app).head('/console/assets/index-abc123.js').expect(200);
    expect(head.text).toBeUndefined();
  });

  it('leaves missing assets, other methods and other paths to the API (its 404)', async () => {
    const app = await appOn(dir);
    expect((await request(app).get('/console/assets/missing.js').expect(404)).body).toEqual({ code: 'not_found' });
    await request(app).post('/console').send({}).expect(404);
    await request(app).get('/consoles').expect(404);
  });

  it('without a build, /console says how to build it (503), still under the security headers', async () => {
    const res = await request(await appOn(join(dir, 'nothing-here'))).get('/console/').expect(503);
    expect(res.text).toContain('npm run build');
    expect(res.headers['content-security-policy']).toBe(CONSOLE_SECURITY_HEADERS['Content-Security-Policy']);
  });
});
