/**
 * The fuzz suite of issue 18 ("Faults and supervision"), the mutual-TLS port: the built signer, gateway
 * and enroll server as processes, PostgreSQL and Redis real.
 *
 *   HTTP     with a valid client certificate: mutated CSRs (re-signed DER mutations of real requests) as
 *            PEM, base64 DER and JSON {csrPem}, broken JSON, random bytes, bodies past the limit, wrong
 *            content types, odd methods and paths, junk Accept headers; node's https client.
 *   raw      the same connection type with raw bytes for the HTTP part: broken request lines and headers,
 *            NULs, obs-folds, conflicting lengths, bad chunking, huge headers, random bytes.
 *   TLS      no ClientHello at all: random bytes, truncated and corrupted ClientHellos, plaintext HTTP.
 *
 * Never a 5xx; every answered error in API.md's shape; the certificates written equal the enrollments
 * answered 2xx (a refused request writes nothing); and after all of it the server still answers /healthz
 * and enrolls. Seeded: FUZZ_SEED replays a run; the counts are printed.
 */
import { toPem } from '@signet/pki';
import { FuzzTally, applyDerMutations, derMutations, fuzzRuns, fuzzSeed, fuzzSeedRequests, resignedCsrMutant, sanBytesCsr } from '@signet/pki/testing';
import { RunningService, freePort, spawnService, startGatewayProcess, startSigner, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { AddressInfo, Socket, connect as tcpConnect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Client } from 'pg';

const SEED = fuzzSeed();
const HTTP_RUNS = fuzzRuns(1000);
const RAW_RUNS = fuzzRuns(300);
const TLS_RUNS = fuzzRuns(300);
/** Cases in flight at once (each its own request; rows are checked per wave). */
const WAVE = 8;
const PLATFORM_ADMIN_KEY = `test-platform-admin-${randomBytes(16).toString('hex')}`;
const tally = new FuzzTally();

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** What is wrong with an error answer, by API.md's conventions; null when nothing. */
function errorShapeFault(answer: Answer): string | null {
  if (!/application\/json/.test(answer.contentType)) return `not JSON (${answer.contentType || 'no content type'}): ${answer.body.toString('latin1').slice(0, 200)}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return `unparsable JSON: ${answer.body.toString('latin1').slice(0, 200)}`;
  }
  if (typeof body.error !== 'string' || typeof body.code !== 'string' || body.status !== answer.status || typeof body.requestId !== 'string') {
    return `not the error shape: ${JSON.stringify(body).slice(0, 300)}`;
  }
  return null;
}

/** The first HTTP answer in `data` when it is complete (Content-Length or chunked), else null. */
function parseAnswer(data: Buffer): Answer | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1] ?? NaN);
  const headers = Object.fromEntries(head.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const rest = data.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? { status, contentType: headers['content-type'] ?? '', body: rest.subarray(0, length) } : null;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    if (!rest.includes('0\r\n\r\n')) return null;
    const chunks: Buffer[] = [];
    for (let at = 0; ; ) {
      const line = rest.indexOf('\r\n', at);
      const size = parseInt(rest.subarray(at, line).toString('latin1'), 16);
      if (!size) break;
      chunks.push(rest.subarray(line + 2, line + 2 + size));
      at = line + 2 + size + 2;
    }
    return { status, contentType: headers['content-type'] ?? '', body: Buffer.concat(chunks) };
  }
  return { status, contentType: headers['content-type'] ?? '', body: rest };
}

/** Raw mutations of a well-formed request: the HTTP parser's part. */
const rawJunk = (csrPem: string): fc.Arbitrary<{ name: string; bytes: Buffer }> => {
  const body = Buffer.from(csrPem);
  const req = (head: string, payload: Buffer = body) => Buffer.concat([Buffer.from(head), payload]);
  const good = `POST /v1/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const named = (name: string, bytes: Buffer) => ({ name, bytes });
  return fc.oneof(
    fc.constantFrom(
      named('HTTP/0.9', Buffer.from('GET /\r\n\r\n')),
      named('HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')),
      named('no version', Buffer.from('POST /v1/enroll\r\n\r\n')),
      named('HTTP/1.1 without Host', req(`POST /v1/enroll HTTP/1.1\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)),
      named('NUL in a header', req(`POST /v1/enroll HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)),
      named('obs-fold', req(`POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\n folded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)),
      named('two Content-Lengths', req(`POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n`)),
      named('Content-Length and chunked', req(`POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)),
      named('bad chunk size', Buffer.from('POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n')),
      named('chunk extension flood', Buffer.from(`POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`)),
      named('negative Content-Length', req('POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: -1\r\nConnection: close\r\n\r\n')),
      named('huge Content-Length', req('POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n')),
      named('headers too large', Buffer.from(`GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(40_000)}\r\nConnection: close\r\n\r\n`)),
      named('many headers', Buffer.from(`GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}Connection: close\r\n\r\n`)),
      named('space in the method', req(`PO ST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)),
      named('absolute URI', req(`POST https://127.0.0.1/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)),
      named('bare LF', req(`POST /v1/enroll HTTP/1.1\nHost: x\nContent-Type: application/pkcs10\nContent-Length: ${body.length}\nConnection: close\n\n`)),
      named('pipelined', Buffer.concat([req(good.replace('Connection: close\r\n', '')), Buffer.from('GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')])),
    ),
    fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => named('random bytes', Buffer.from(bytes))),
    fc.tuple(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 })).map(([at, value]) => {
      const bytes = Buffer.from(good);
      bytes[at] = value;
      return named(`request head byte ${at} = ${value}`, Buffer.concat([bytes, body]));
    }),
    fc.tuple(fc.nat({ max: good.length }), fc.uint8Array({ minLength: 1, maxLength: 30 })).map(([at, junk]) =>
      named(`junk inserted at ${at}`, Buffer.concat([Buffer.from(good.slice(0, at)), Buffer.from(junk), Buffer.from(good.slice(at)), body])),
    ),
  );
};

/** TLS records that are not a valid ClientHello. */
const tlsJunk = (hello: Buffer): fc.Arbitrary<{ name: string; bytes: Buffer }> =>
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 4000 }).map((b) => ({ name: 'random bytes', bytes: Buffer.from(b) })),
    fc.nat({ max: hello.length - 1 }).map((n) => ({ name: `ClientHello cut at ${n}`, bytes: hello.subarray(0, n) })),
    fc.tuple(fc.nat({ max: hello.length - 1 }), fc.nat({ max: 255 })).map(([at, v]) => {
      const bytes = Buffer.from(hello);
      bytes[at] = v;
      return { name: `ClientHello byte ${at} = ${v}`, bytes };
    }),
    fc.constantFrom(
      { name: 'plaintext HTTP', bytes: Buffer.from('GET /v1/enroll HTTP/1.1\r\nHost: x\r\n\r\n') },
      { name: 'SSLv2 hello', bytes: Buffer.from('802e0103010015000000100000040000050000390000380000350000330000320000ff', 'hex') },
      { name: 'record of 16 KiB of zeros', bytes: Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), Buffer.alloc(0x4000)]) },
      { name: 'alert first', bytes: Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]) },
      { name: 'heartbeat record', bytes: Buffer.from([0x18, 0x03, 0x03, 0x00, 0x03, 0x01, 0x40, 0x00]) },
    ),
  );

describe('fuzz: the mutual-TLS enrollment port', () => {
  let gateway: RunningService;
  let signer: RunningService;
  let enroll: RunningService;
  let db: Client;
  let gatewayUrl: string;
  let port: number;
  let healthPort: number;
  let orgId: string;
  let agent: Agent;
  let client: { cert: string; key: string; ca: string };
  let clientHello: Buffer;
  const started = Date.now();
  const timings: Record<string, number> = {};
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < 30) problems.push(text);
  };
  beforeEach(() => {
    problems.length = 0;
  });

  const call = async (method: string, path: string, body: object | undefined, key: string) => {
    const res = await fetch(`${gatewayUrl}${path}`, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined }).catch((error) => {
      throw new Error(`${method} ${path}: ${error.message} ${error.cause?.message ?? ''}\n${gateway.output().slice(-3000)}`);
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };

  /** Rows the enrollments of the fuzz org may write. */
  const counts = async () => {
    const { rows } = await db.query(
      `SELECT (SELECT count(*) FROM certificates WHERE org_id = $1)::int AS certificates, (SELECT count(*) FROM cas WHERE org_id = $1)::int AS cas,
              (SELECT count(*) FROM api_keys WHERE org_id = $1)::int AS api_keys, (SELECT count(*) FROM profiles WHERE org_id = $1)::int AS profiles,
              (SELECT count(*) FROM approvals WHERE org_id = $1)::int AS approvals, (SELECT count(*) FROM enrollment_policies WHERE org_id = $1)::int AS enrollment_policies`,
      [orgId],
    );
    return rows[0] as Record<string, number>;
  };

  /** One request through node's https client with the device certificate. */
  const send = (method: string, path: string, headers: Record<string, string>, body: Buffer | null): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, method, path, headers, agent, timeout: 20_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 20 s')));
      req.on('error', reject);
      req.end(body ?? undefined);
    });

  /** Raw bytes over a TLS connection with the device certificate; the first answer, or null if the server closed without one. */
  const sendRaw = (bytes: Buffer): Promise<Answer | null> =>
    new Promise((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ...client, servername: 'localhost' });
      let data = Buffer.alloc(0);
      const done = (answer: Answer | null) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => done(parseAnswer(data) ?? (data.length ? { status: -1, contentType: '', body: data } : null)), 10_000);
      socket.on('secureConnect', () => socket.write(bytes));
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const answer = parseAnswer(data);
        if (answer) done(answer);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => done(parseAnswer(data) ?? (data.length ? { status: -2, contentType: '', body: data } : null)));
    });

  /** Bytes on a bare TCP connection to the TLS port; resolves when the server closes it (or after 3 s). */
  const sendTcp = (bytes: Buffer): Promise<string> =>
    new Promise((resolve) => {
      const socket: Socket = tcpConnect({ host: '127.0.0.1', port });
      let received = 0;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(received ? 'answered, left open' : 'left open');
      }, 3000);
      socket.on('connect', () => socket.write(bytes));
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(received ? 'alert, closed' : 'closed');
      });
    });

  const healthy = async () => (await fetch(`http://127.0.0.1:${healthPort}/healthz`).then((r) => r.status, () => 0)) === 200 && enroll.child.exitCode === null;

  beforeAll(async () => {
    signer = await startSigner();
    ({ gateway, url: gatewayUrl } = await startGatewayProcess({ PLATFORM_ADMIN_KEY }));
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const org = await call('POST', '/api/v1/platform/orgs', { name: 'Fuzz devices', slug: `fuzz-devices-${randomBytes(4).toString('hex')}` }, PLATFORM_ADMIN_KEY);
    orgId = org.org.id;
    const admin = org.adminKey as string;
    const serverCa = (await call('POST', '/api/v1/cas', { name: 'Enroll server', subject: { commonName: 'Fuzz Enroll Server CA' } }, admin)).ca;
    const bootstrap = (await call('POST', '/api/v1/cas', { name: 'Bootstrap', subject: { commonName: 'Fuzz Bootstrap CA' } }, admin)).ca;
    const deviceCa = (await call('POST', '/api/v1/cas', { name: 'Devices', subject: { commonName: 'Fuzz Device CA' } }, admin)).ca;
    await call('POST', '/api/v1/enrollment-policies', { name: 'Fuzz devices', trustedCaIds: [bootstrap.id], issuingCaId: deviceCa.id, subjectRule: 'any' }, admin);
    const device = await call('POST', '/api/v1/certificates', { caId: bootstrap.id, commonName: 'fuzz-device', usage: 'client' }, admin);
    client = { cert: device.certificate.certificatePem, key: device.privateKey, ca: serverCa.certificatePem };
    // A connection per request: a kept-alive socket the server is closing would fail a case for the client's race, not the server's fault.
    agent = new Agent({ keepAlive: false, maxSockets: WAVE, ...client, servername: 'localhost' });

    healthPort = await freePort();
    port = await freePort();
    enroll = spawnService('enroll', {
      ...testServiceEnv(), ENROLL_PORT: String(port), ENROLL_HEALTH_PORT: String(healthPort), ENROLL_TLS_CA_ID: serverCa.id,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '1000', ENROLL_BODY_LIMIT_BYTES: '16384', ENROLL_RATE_LIMIT: '1000000',
      ENROLL_REQUEST_TIMEOUT_MS: '2000', ENROLL_HANDSHAKE_TIMEOUT_MS: '2000',
    });
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, enroll);
    // The trust store may not hold the bootstrap CA at the first poll: enroll until it does.
    const csrPem = fuzzSeedRequests()[0].pem;
    let first: Answer | null = null;
    for (let i = 0; i < 100 && first?.status !== 201; i++) {
      first = await send('POST', '/v1/enroll', { 'Content-Type': 'application/pkcs10' }, Buffer.from(csrPem)).catch(() => null);
      if (first?.status !== 201) await new Promise((r) => setTimeout(r, 200));
    }
    expect(first?.status).toBe(201);
    // A real ClientHello, recorded, for the TLS-level mutations.
    clientHello = await new Promise<Buffer>((resolve) => {
      const server = createServer((s: Socket) =>
        s.once('data', (d: Buffer) => {
          s.destroy();
          server.close();
          resolve(d);
        }),
      );
      server.listen(0, '127.0.0.1', () => {
        const socket = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...client, servername: 'localhost' });
        socket.on('error', () => undefined);
      });
    });
  }, 120_000);

  afterAll(async () => {
    console.log(`${tally.report('Enroll (8443) fuzz', SEED)}\n  time: ${Object.entries(timings).map(([k, ms]) => `${k} ${ms} ms`).join(', ')}; whole suite ${Date.now() - started} ms`);
    agent?.destroy();
    await db?.end();
    if (gateway) expect(await stopService(gateway)).toBe(0);
    if (enroll) expect(await stopService(enroll)).toBe(0);
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  /** Run `cases` WAVE at a time; per wave, the certificates written must equal the enrollments answered 2xx, and nothing else written. */
  async function inWaves<T>(cases: T[], run: (c: T) => Promise<{ enrolled: boolean }>, label: (c: T) => string): Promise<void> {
    for (let i = 0; i < cases.length; i += WAVE) {
      const wave = cases.slice(i, i + WAVE);
      const before = await counts();
      const results = await Promise.all(wave.map(run));
      // An enrollment's row is written before its answer; nothing refused may add one later either.
      const after = await counts();
      const enrolled = results.filter((r) => r.enrolled).length;
      const expected = { ...before, certificates: before.certificates + enrolled };
      if (JSON.stringify(after) !== JSON.stringify(expected)) {
        problem(`rows: expected ${JSON.stringify(expected)} after ${enrolled} enrollments, found ${JSON.stringify(after)}; the wave:\n    ${wave.map(label).join('\n    ')}`);
      }
    }
  }

  it(`answers mutated enrollment requests with a valid client certificate: no 5xx, errors in the API shape, rows only for enrollments (${HTTP_RUNS} cases)`, async () => {
    const t0 = Date.now();
    const seeds = fuzzSeedRequests();
    const csrBody = fc.record({ seed: fc.nat(), resign: fc.boolean(), mutations: derMutations(3) }).map(({ seed, resign, mutations }) => {
      const s = seeds[seed % seeds.length];
      return { der: resign ? resignedCsrMutant(s.der, s.key, mutations) : applyDerMutations(s.der, mutations), what: `${s.name}${resign ? ' re-signed' : ''} ${JSON.stringify(mutations)}` };
    });
    const body = fc.oneof(
      { weight: 4, arbitrary: csrBody.map(({ der, what }) => ({ what: `PEM of ${what}`, bytes: Buffer.from(toPem('CERTIFICATE REQUEST', der)) })) },
      { weight: 3, arbitrary: csrBody.map(({ der, what }) => ({ what: `base64 of ${what}`, bytes: Buffer.from(der.toString('base64').replace(/.{64}/g, '$&\r\n')) })) },
      { weight: 3, arbitrary: csrBody.map(({ der, what }) => ({ what: `JSON of ${what}`, bytes: Buffer.from(JSON.stringify({ csrPem: toPem('CERTIFICATE REQUEST', der) })) })) },
      { weight: 1, arbitrary: csrBody.map(({ der, what }) => ({ what: `DER of ${what}`, bytes: der })) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '', '{', '[]', 'null', '"x"', '{"csrPem":null}', '{"csrPem":123}', '{"csrPem":["a"]}', '{"csrPem":{"a":1}}', '{"csrPem":"a\\u0000b"}', '{"csrPem":"\\ud800"}',
          '{"__proto__":{"csrPem":"x"}}', '{"constructor":{"prototype":{}}}', '{"csrPem":"x","extra":1}', `${'['.repeat(5000)}${']'.repeat(5000)}`, '-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----\n',
          '===', 'AAAA', toPem('CERTIFICATE REQUEST', sanBytesCsr('san.fuzz.example.test', 0x82, Buffer.from('a\u0000b.example.test', 'latin1'))),
        ).map((text) => ({ what: `text ${JSON.stringify(text.slice(0, 80))}`, bytes: Buffer.from(text) })),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3000 }).map((b) => ({ what: 'random bytes', bytes: Buffer.from(b) })) },
      { weight: 1, arbitrary: fc.integer({ min: 16_385, max: 200_000 }).map((n) => ({ what: `${n} bytes (past the limit)`, bytes: Buffer.alloc(n, 'A') })) },
    );
    const httpCase = fc.record({
      method: fc.oneof({ weight: 12, arbitrary: fc.constant('POST') }, { weight: 3, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'FOO') }),
      path: fc.oneof(
        { weight: 16, arbitrary: fc.constantFrom('/v1/enroll', '/v1/enroll', '/v1/enroll', '/.well-known/est/simpleenroll', '/.well-known/est/simplereenroll', '/.well-known/est/cacerts') },
        { weight: 2, arbitrary: fc.constantFrom('/', '/v1/enroll/', '/v1/enroll?x=1&x=2', '/V1/ENROLL', '/.well-known/est/', '/../v1/enroll', '/%2e%2e/v1/enroll', '/v1/enroll%00', '/v1//enroll', `/${'a'.repeat(4000)}`, '/.well-known/est/cacerts?%ff') },
        { weight: 1, arbitrary: fc.webPath() },
      ),
      contentType: fc.constantFrom('application/pkcs10', 'application/pkcs10', 'application/x-pem-file', 'application/json', 'application/json', '', 'text/plain', 'application/pkcs10; charset=utf-8', 'APPLICATION/JSON', 'multipart/form-data; boundary=x', 'application/pkcs7-mime', 'application/json; charset=utf-16'),
      accept: fc.constantFrom('', '*/*', 'application/x-pem-file', 'application/json', 'text/html', '\u00ff\u00fe', 'application/x-pem-file;q=0, */*;q=0'),
      body,
    });
    const cases = fc.sample(httpCase, { seed: SEED, numRuns: HTTP_RUNS });
    await inWaves(
      cases,
      async (c) => {
        const headers: Record<string, string> = { ...(c.contentType ? { 'Content-Type': c.contentType } : {}), ...(c.accept ? { Accept: c.accept } : {}) };
        const describeCase = () => `FUZZ_SEED=${SEED} ${c.method} ${c.path.slice(0, 200)} ${c.contentType}, Accept ${c.accept}: ${c.body.what.slice(0, 400)}`;
        let answer: Answer;
        try {
          answer = await send(c.method, c.path, headers, c.method === 'GET' || c.method === 'HEAD' ? null : c.body.bytes);
        } catch (error) {
          // A request past the body limit may see its upload cut once the 413 is written: that is no fault.
          const cut = c.body.bytes.length > 16_384 && /EPIPE|ECONNRESET|socket hang up/.test((error as Error).message);
          tally.see('HTTP over mTLS', cut ? 'closed during an upload past the limit' : 'no answer');
          if (!cut) problem(`no answer (${(error as Error).message})\n    ${describeCase()}`);
          return { enrolled: false };
        }
        tally.see('HTTP over mTLS', answer.status);
        if (answer.status >= 500) problem(`${answer.status} ${answer.body.toString('utf8').slice(0, 300)}\n    ${describeCase()}`);
        if (answer.status >= 400 && c.method !== 'HEAD') {
          const fault = errorShapeFault(answer);
          if (fault) problem(`${answer.status} ${fault}\n    ${describeCase()}`);
        }
        // The query string is no part of the route (the server strips it): /v1/enroll?x=1 enrolls too.
        const enrollPath = ['/v1/enroll', '/.well-known/est/simpleenroll', '/.well-known/est/simplereenroll'].includes(c.path.split('?')[0]);
        return { enrolled: enrollPath && c.method === 'POST' && answer.status >= 200 && answer.status < 300 };
      },
      (c) => `${c.method} ${c.path.slice(0, 100)} ${c.contentType}: ${c.body.what.slice(0, 200)}`,
    );
    timings.HTTP = Date.now() - t0;
    expect(problems).toEqual([]);
    expect(await healthy()).toBe(true);
  });

  it(`answers raw HTTP junk over mTLS with 4xx in the API shape or a close, never a 5xx (${RAW_RUNS} cases)`, async () => {
    const t0 = Date.now();
    const cases = fc.sample(rawJunk(fuzzSeedRequests()[0].pem), { seed: SEED, numRuns: RAW_RUNS });
    await inWaves(
      cases,
      async (c) => {
        const answer = await sendRaw(c.bytes);
        tally.see('raw HTTP over mTLS', answer ? (answer.status < 0 ? 'unparsable answer' : answer.status) : 'closed without an answer');
        if (!answer) return { enrolled: false };
        if (answer.status < 0 || answer.status >= 500) problem(`${answer.status} ${answer.body.toString('latin1').slice(0, 300)}\n    FUZZ_SEED=${SEED} ${c.name}`);
        else if (answer.status >= 400) {
          const fault = errorShapeFault(answer);
          if (fault) problem(`${answer.status} ${fault}\n    FUZZ_SEED=${SEED} ${c.name}: ${JSON.stringify(c.bytes.toString('latin1').slice(0, 200))}`);
        }
        // A mutated head that still makes a valid enrollment request (a byte of a header value, say).
        return { enrolled: answer.status === 201 };
      },
      (c) => c.name,
    );
    timings.raw = Date.now() - t0;
    expect(problems).toEqual([]);
    expect(await healthy()).toBe(true);
  });

  it(`survives TLS-level junk (no ClientHello): still healthy and enrolling afterwards (${TLS_RUNS} cases)`, async () => {
    const t0 = Date.now();
    const cases = fc.sample(tlsJunk(clientHello), { seed: SEED, numRuns: TLS_RUNS });
    for (let i = 0; i < cases.length; i += WAVE * 8) {
      const wave = cases.slice(i, i + WAVE * 8);
      const outcomes = await Promise.all(wave.map((c) => sendTcp(c.bytes)));
      outcomes.forEach((outcome) => tally.see('TLS junk', outcome));
      if (enroll.child.exitCode !== null) {
        problem(`the enroll server exited (${enroll.child.exitCode}) during:\n    ${wave.map((c) => `FUZZ_SEED=${SEED} ${c.name}`).join('\n    ')}\n${enroll.output().slice(-2000)}`);
        break;
      }
    }
    timings.TLS = Date.now() - t0;
    expect(problems).toEqual([]);
    expect(await healthy()).toBe(true);
    const after = await send('POST', '/v1/enroll', { 'Content-Type': 'application/pkcs10' }, Buffer.from(fuzzSeedRequests()[1].pem));
    expect(after.status).toBe(201);
  });
});
