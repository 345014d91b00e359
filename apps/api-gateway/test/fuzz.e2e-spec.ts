/**
 * The fuzz suite of issue 18 ("Faults and supervision"), gateway surfaces, against the real stack (the
 * gateway in this process, a built signer, PostgreSQL, Redis):
 *
 *   JSON bodies   every POST/PATCH operation of the OpenAPI document with a JSON body, real ids in its
 *                 path: the documented body with one field made hostile (wrong types, huge strings, NULs,
 *                 lone surrogates, deep nesting, arrays for objects, numbers out of range, other tenants'
 *                 ids), extra and prototype keys, dropped fields, whole bodies replaced, broken JSON text
 *                 and content types, under admin, member and platform keys.
 *   CSRs          POST /api/v1/certificates in csr mode with DER mutations of real requests (re-signed,
 *                 so most pass the signature check and reach the checks behind it), as PEM and broken PEM.
 *   OCSP          mutations of requests openssl made for this CA, by POST /pki/ocsp and GET /pki/ocsp/<b64>.
 *
 * Never a 5xx (nor an OCSP internalError); every error in API.md's shape; a refused request writes no row
 * of the main tables (audit events of refusals are expected and not counted). Seeded: FUZZ_SEED replays a
 * run, FUZZ_RUNS_SCALE scales it; the counts are printed after the run.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { buildCertificateSync, exportPrivateKeyPem, generateKeyPair, ocspResponseStatus, toPem } from '@signet/pki';
import { DerMutation, FuzzTally, applyDerMutations, derMutations, fuzzRuns, fuzzSeed, fuzzSeedRequests, resignedCsrMutant, sanBytesCsr } from '@signet/pki/testing';
import { RunningService, stopService } from '@signet/testing';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { TEST_ADMIN_KEY, bearer, createKey, createOrg, startGateway, startSigner } from './support';

const SEED = fuzzSeed();
const JSON_RUNS = fuzzRuns(1300);
const CSR_RUNS = fuzzRuns(300);
const OCSP_RUNS = fuzzRuns(1200);
/**
 * Each case is a real round trip (and some reach the signer): 30-35 s for the JSON cases on a quiet
 * 2-core machine, twice that under load. A timeout would leave its loop running into the next test,
 * whose row counts it would then disturb, so each test gets room.
 */
const FUZZ_TEST_TIMEOUT_MS = 300_000;
const tally = new FuzzTally();

type Schema = { $ref?: string; type?: string; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; oneOf?: Schema[]; format?: string; example?: unknown; minimum?: number };
type Operation = { requestBody?: { content: Record<string, { schema: Schema }> } };
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };

/** A JSON text fragment sent as is: numbers JSON.parse turns into Infinity or -0, nesting past any parser's patience. */
class Raw {
  constructor(readonly text: string) {}
  toJSON() {
    return `<raw ${this.text.length > 60 ? `${this.text.slice(0, 60)}... (${this.text.length} chars)` : this.text}>`;
  }
}

/** JSON text of a value that may hold Raw fragments and own `__proto__` keys (JSON.stringify drops neither, but Raw needs this). */
function serialize(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).map((k) => `${JSON.stringify(k)}:${serialize((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A copy of `value` with an own enumerable property `key` (works for `__proto__`, which assignment would not create). */
function withOwn(value: Record<string, unknown>, key: string, item: unknown): Record<string, unknown> {
  const copy = { ...value };
  Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
  return copy;
}

const deep = (depth: number, open: string, close: string, leaf = '') => new Raw(open.repeat(depth) + leaf + close.repeat(depth));

/** Values no field of any route should take: wrong types, out of range, unstorable text, huge, nested, foreign ids. */
const hostileValue = (ids: string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), '', ' ', 'null', 'true', '0', '-1', [], {}, [null], [[]], [{}], { '': '' }, ['a.example.test'], { length: 1e9 }) },
    { weight: 2, arbitrary: fc.constantFrom(new Raw('1e400'), new Raw('-1e400'), new Raw('-0'), new Raw('1e-400'), new Raw('123456789012345678901234567890123'), new Raw('0.30000000000000004')) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'a\u0000b', '\u0000', '\ud800', 'x\udc00', '\udbff\udbff', 'a\u202eb', '\ufeffbom', 'e\u0301', '\u{1f525}'.repeat(70), "' OR 1=1 --", '%00', '%s%n',
        '../../etc/passwd', '${jndi:ldap://x/a}', '<script>alert(1)</script>', 'a'.repeat(65), `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.test`,
        '*.*.example.test', '192.0.2.256', '::ffff:999.1.1.1', 'user@@example.test', 'javascript:alert(1)', 'ECDSA-P256\u0000', 'RSA-1024', '1970-01-01T00:00:00Z',
        '9999-12-31T23:59:59Z', '2020-02-30T00:00:00Z', 'not a date', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'Infinity', 'NaN',
      ),
    },
    { weight: 2, arbitrary: fc.integer({ min: 1000, max: 200_000 }).map((n) => 'A'.repeat(n)) },
    { weight: 1, arbitrary: fc.constant('B'.repeat(1_100_000)) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 5000 }).map((d) => deep(d, '[', ']')) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 5000 }).map((d) => deep(d, '{"a":', '}', '1')) },
    { weight: 1, arbitrary: fc.integer({ min: 101, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => `n${i}.example.test`)) },
    { weight: 2, arbitrary: fc.constantFrom(...ids) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.oneof(fc.double(), fc.integer(), fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((n) => new Raw(n.toString()))) },
  );

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'then'];
const EXTRA_KEYS = [...PROTOTYPE_KEYS, 'id', 'orgId', 'org_id', 'role', 'status', 'createdAt', 'isAdmin', 'deletedAt', 'privateKeyPem', 'certificateDer', ''];

/** Broken JSON text and content types: the body parser's part. */
const rawBody = (base: unknown): fc.Arbitrary<{ text: string | Buffer; contentType: string }> => {
  const json = serialize(base);
  const text = fc.oneof(
    fc.constantFrom('', '{', '}', '{"a":}', 'nul', '[1,]', '{"a" 1}', "{'a':1}", '\ufeff{}', '{"a":1,"a":2}', 'undefined', '"str"', '42', 'null', '{"a":"\\ud800"}', '{"a":"\\u0000"}', '{"__proto__":{"isAdmin":true}}'),
    fc.nat({ max: json.length }).map((n) => json.slice(0, n)),
    fc.tuple(fc.nat({ max: Math.max(0, json.length - 1) }), fc.nat({ max: 255 })).map(([at, b]) => {
      const bytes = Buffer.from(json);
      bytes[at % Math.max(1, bytes.length)] = b;
      return bytes;
    }),
    fc.constant(Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}')])),
    fc.constant(Buffer.from(json, 'utf16le')),
  );
  const contentType = fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', 'application/merge-patch+json', 'application/xml', 'application/json; charset=latin1');
  return fc.record({ text, contentType });
};

type BodyCase =
  | { kind: 'field'; path: number; value: unknown }
  | { kind: 'extra'; key: string; value: unknown }
  | { kind: 'drop'; path: number }
  | { kind: 'whole'; value: unknown }
  | { kind: 'raw'; raw: { text: string | Buffer; contentType: string } }
  | { kind: 'random'; value: unknown };

type Counts = Record<string, number>;

/**
 * Findings left to the owners of the files they are in (see 'findings of the fuzzer' at the end): counted
 * and printed apart, not failed, so the suite guards everything else meanwhile. Remove an entry with its fix.
 */
const KNOWN_FINDINGS: { name: string; matches: (route: string, status: number, body: string) => boolean }[] = [];

describe('fuzz: gateway JSON bodies, CSRs, OCSP', () => {
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let doc: Document;
  const dir = mkdtempSync(join(tmpdir(), 'signet-fuzz-'));
  const problems: string[] = [];
  const started = Date.now();
  const timings: Record<string, number> = {};
  const ids = {} as {
    orgId: string; otherOrgId: string; adminKey: string; otherAdminKey: string; requesterKey: string; memberKey: string; platformKey: string; platformKeyId: string;
    caId: string; intermediateId: string; certificateId: string; revokeId: string; profileId: string; approvalIds: string[];
    otherCaId: string; otherCertificateId: string; importCertificatePem: string; importKeyPem: string; caPem: string; leafPem: string; revokedPem: string;
  };

  const problem = (text: string) => {
    if (problems.length < 30) problems.push(text);
  };
  beforeEach(() => {
    problems.length = 0;
  });

  /** Rows of the main tables the fuzzing can reach: the fuzz orgs', the fuzz platform key's, orgs named by the fuzz bodies. */
  const counts = async (): Promise<Counts> => {
    const { rows } = await db.query(
      `SELECT (SELECT count(*) FROM certificates WHERE org_id = ANY($1))::int AS certificates,
              (SELECT count(*) FROM cas WHERE org_id = ANY($1))::int AS cas,
              (SELECT count(*) FROM api_keys WHERE org_id = ANY($1) OR created_by_key_id = $2)::int AS api_keys,
              (SELECT count(*) FROM profiles WHERE org_id = ANY($1))::int AS profiles,
              (SELECT count(*) FROM approvals WHERE org_id = ANY($1))::int AS approvals,
              (SELECT count(*) FROM enrollment_policies WHERE org_id = ANY($1))::int AS enrollment_policies,
              (SELECT count(*) FROM orgs WHERE name LIKE 'Fuzz%' OR slug LIKE 'fuzz%')::int AS orgs`,
      [[ids.orgId, ids.otherOrgId], ids.platformKeyId],
    );
    return rows[0];
  };

  /** What is wrong with an error answer, by API.md's conventions; null when nothing. */
  const errorShapeFault = (status: number, contentType: unknown, body: Record<string, unknown> | undefined, text: string): string | null => {
    if (!/application\/json/.test(String(contentType))) return `not JSON (${contentType}): ${text.slice(0, 200)}`;
    if (!body || typeof body !== 'object') return 'no error object';
    if (typeof body.error !== 'string' || typeof body.code !== 'string' || body.status !== status || typeof body.requestId !== 'string') {
      return `not the error shape: ${JSON.stringify(body).slice(0, 300)}`;
    }
    if ('details' in body && (typeof body.details !== 'object' || body.details === null)) return `details is not an object: ${JSON.stringify(body.details)}`;
    return null;
  };

  const api = (key: string) => ({
    post: (path: string, body: object) => request(http).post(path).set(bearer(key)).send(body),
  });
  const created = async (pending: request.Test) => {
    const res = await pending;
    if (res.status !== 201 && res.status !== 202) throw new Error(`set-up request failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };

  beforeAll(async () => {
    signer = await startSigner();
    const unlimited = String(10_000_000);
    gateway = await startGateway({ RATE_LIMIT_GENERAL: unlimited, RATE_LIMIT_ISSUE: unlimited, RATE_LIMIT_BATCH: unlimited });
    http = gateway.getHttpServer();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    doc = (await request(http).get('/api/v1/openapi.json').expect(200)).body;

    const org = await createOrg(gateway, 'Fuzz org');
    const other = await createOrg(gateway, 'Fuzz other tenant');
    Object.assign(ids, { orgId: org.org.id, otherOrgId: other.org.id, adminKey: org.adminKey, otherAdminKey: other.adminKey });
    const platform = await created(api(TEST_ADMIN_KEY).post('/api/v1/platform/api-keys', { name: 'fuzz platform' }));
    Object.assign(ids, { platformKey: platform.key, platformKeyId: platform.apiKey.id });
    const admin = api(org.adminKey);
    const root = (await created(admin.post('/api/v1/cas', { name: 'Fuzz root', subject: { commonName: 'Fuzz Root CA' } }))).ca;
    const intermediate = (await created(admin.post('/api/v1/cas', { name: 'Fuzz intermediate', subject: { commonName: 'Fuzz Intermediate CA' }, parentCaId: root.id }))).ca;
    const leaf = (await created(admin.post('/api/v1/certificates', { caId: root.id, commonName: 'leaf.fuzz.example.test' }))).certificate;
    const toRevoke = (await created(admin.post('/api/v1/certificates', { caId: root.id, commonName: 'revoke.fuzz.example.test' }))).certificate;
    const revoked = (await created(admin.post('/api/v1/certificates', { caId: root.id, commonName: 'revoked.fuzz.example.test' }))).certificate;
    expect((await admin.post(`/api/v1/certificates/${revoked.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const profile = (await created(admin.post('/api/v1/profiles', { name: 'Fuzz profile', slug: 'fuzz-profile', caId: root.id }))).profile;
    const approvalProfile = (await created(admin.post('/api/v1/profiles', { name: 'Fuzz approvals', slug: 'fuzz-approvals', caId: root.id, requireApproval: true }))).profile;
    const requester = await createKey(gateway, org.adminKey, { name: 'fuzz requester', role: 'admin' });
    const approvalIds: string[] = [];
    for (let i = 0; i < 6; i++) {
      const asked = await created(api(requester.key).post('/api/v1/certificates', { profileId: approvalProfile.id, commonName: `approve-${i}.fuzz.example.test`, storeKey: true }));
      approvalIds.push(asked.approval.id);
    }
    const member = await createKey(gateway, org.adminKey, { name: 'fuzz member', role: 'member', permissions: { [root.id]: { read: true, issue: true, revoke: false } } });
    const otherAdmin = api(other.adminKey);
    const otherCa = (await created(otherAdmin.post('/api/v1/cas', { name: 'Other root', subject: { commonName: 'Other Root CA' } }))).ca;
    const otherCertificate = (await created(otherAdmin.post('/api/v1/certificates', { caId: otherCa.id, commonName: 'other.example.test' }))).certificate;
    const keys = await generateKeyPair('ECDSA-P256');
    const now = Date.now();
    const imported = buildCertificateSync({ kind: 'root', subject: { commonName: 'Fuzz Import CA' }, publicKey: keys.publicKey, selfSignKey: keys.privateKey, notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * 86_400_000) });
    Object.assign(ids, {
      requesterKey: requester.key, memberKey: member.key, caId: root.id, intermediateId: intermediate.id, certificateId: leaf.id, revokeId: toRevoke.id,
      profileId: profile.id, approvalIds, otherCaId: otherCa.id, otherCertificateId: otherCertificate.id,
      importCertificatePem: toPem('CERTIFICATE', imported.der), importKeyPem: exportPrivateKeyPem(keys.privateKey),
      caPem: root.certificatePem, leafPem: leaf.certificatePem, revokedPem: revoked.certificatePem,
    });
  }, 120_000);

  afterAll(async () => {
    console.log(`${tally.report('Gateway fuzz', SEED)}\n  time: ${Object.entries(timings).map(([k, ms]) => `${k} ${ms} ms`).join(', ')}; whole suite ${Date.now() - started} ms`);
    await db?.end();
    await gateway?.close();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  const resolve = (schema: Schema): Schema => {
    let s = schema;
    while (s.$ref) s = doc.components.schemas[s.$ref.replace('#/components/schemas/', '')];
    return s.oneOf ? resolve(s.oneOf[0]) : s;
  };

  /** Field paths of a body schema: top-level properties, one level into objects and into array items. */
  function fieldPaths(schema: Schema): string[][] {
    const s = resolve(schema);
    return Object.entries(s.properties ?? {}).flatMap(([name, sub]) => {
      const inner = resolve(sub);
      const nested = inner.properties ? Object.keys(inner.properties).map((n) => [name, n]) : [];
      const items = inner.type === 'array' && inner.items ? [[name, '0'], ...(resolve(inner.items).properties ? Object.keys(resolve(inner.items).properties!).map((n) => [name, '0', n]) : [])] : [];
      return [[name], ...nested, ...items];
    });
  }

  /** A valid-looking body from the schema alone, for an operation added after this suite was written. */
  function fromSchema(schema: Schema): unknown {
    const s = resolve(schema);
    if (s.enum) return s.enum[0];
    if (s.example !== undefined) return s.example;
    switch (s.type ?? (s.properties ? 'object' : 'string')) {
      case 'object':
        return Object.fromEntries((s.required ?? []).map((name) => [name, fromSchema(s.properties![name])]));
      case 'array':
        return [];
      case 'number':
      case 'integer':
        return s.minimum ?? 1;
      case 'boolean':
        return false;
      default:
        return s.format === 'uuid' ? ids.caId : 'fuzz';
    }
  }

  /** The documented body made valid for this org, per operation; the schema's own for any other. */
  function baseBody(method: string, path: string, schema: Schema): unknown {
    const known: Record<string, unknown> = {
      'post /api/v1/platform/orgs': { name: 'Fuzz made org', slug: 'fuzz-made-org' },
      'post /api/v1/platform/api-keys': { name: 'fuzz made key' },
      'post /api/v1/api-keys': { name: 'fuzz made key', role: 'member', permissions: { [ids.caId]: { read: true, issue: false, revoke: false } } },
      'post /api/v1/cas': { name: 'Fuzz made CA', subject: { commonName: 'Fuzz Made CA', organization: 'Fuzz' }, keyAlgorithm: 'ECDSA-P256', validityDays: 365, parentCaId: ids.caId, pathLength: 0 },
      'post /api/v1/cas/import': { name: 'Fuzz imported', certificatePem: ids.importCertificatePem, privateKeyPem: ids.importKeyPem },
      'post /api/v1/cas/{id}/revoke': { reason: 'superseded' },
      'post /api/v1/certificates': { caId: ids.caId, commonName: 'made.fuzz.example.test', sanDns: ['made.fuzz.example.test'], validityDays: 30, usage: 'server', subject: { organization: 'Fuzz' }, notes: 'fuzz' },
      'post /api/v1/certificates/batch': { items: [{ caId: ids.caId, commonName: 'batch.fuzz.example.test', validityDays: 30 }] },
      'patch /api/v1/certificates/{id}': { notes: 'fuzz', autoRenew: false, renewalThresholdDays: 10 },
      'post /api/v1/certificates/{id}/revoke': { reason: 'superseded', comments: 'fuzz' },
      'post /api/v1/certificates/{id}/renew': { validityDays: 30 },
      'post /api/v1/approvals/{id}/approve': {},
      'post /api/v1/approvals/{id}/reject': { reason: 'fuzz' },
      'post /api/v1/enrollment-policies': { name: 'Fuzz policy', trustedCaIds: [ids.caId], issuingCaId: ids.caId, subjectRule: 'any', validityDays: 30, allowedKeyAlgorithms: ['ECDSA-P256'] },
      'post /api/v1/profiles': { name: 'Fuzz made profile', slug: 'fuzz-made-profile', caId: ids.caId, allowedDomains: ['example.test'], defaultValidityDays: 30 },
      'patch /api/v1/profiles/{id}': { description: 'fuzz', defaultValidityDays: 30 },
    };
    return structuredClone(known[`${method} ${path}`] ?? fromSchema(schema));
  }

  /** The id a path parameter takes: one that lets the handler run deep (a sacrificial one where the call destroys it). */
  function pathId(path: string, pick: number): string {
    if (path.startsWith('/api/v1/cas/{id}/revoke')) return ids.intermediateId;
    if (path.startsWith('/api/v1/cas/')) return ids.caId;
    if (path.startsWith('/api/v1/certificates/{id}/revoke')) return ids.revokeId;
    if (path.startsWith('/api/v1/certificates/')) return ids.certificateId;
    if (path.startsWith('/api/v1/approvals/')) return ids.approvalIds[pick % ids.approvalIds.length];
    if (path.startsWith('/api/v1/profiles/')) return ids.profileId;
    return ids.caId;
  }

  const setPath = (body: unknown, path: string[], value: unknown): unknown => {
    if (!path.length) return value;
    const [head, ...rest] = path;
    if (Array.isArray(body)) {
      const copy = [...body];
      copy[Number(head) || 0] = setPath(copy[Number(head) || 0] ?? {}, rest, value);
      return copy;
    }
    const record = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
    return withOwn(record, head, setPath(record[head] ?? (rest[0] === '0' ? [] : {}), rest, value));
  };
  const dropPath = (body: unknown, path: string[]): unknown => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
    const copy = { ...(body as Record<string, unknown>) };
    if (path.length === 1) delete copy[path[0]];
    else copy[path[0]] = dropPath(copy[path[0]], path.slice(1));
    return copy;
  };

  /** Send, check the answer and the rows; `before` is the row count the case starts from (the previous case's after). */
  async function judge(label: string, surface: string, send: () => request.Test, before: Counts, describeCase: () => string, sent = ''): Promise<Counts> {
    let res: request.Response;
    try {
      res = await send().timeout({ response: 30_000, deadline: 60_000 });
    } catch (error) {
      tally.see(surface, 'no answer');
      problem(`${label}: no answer (${(error as Error).message})\n    ${describeCase()}`);
      return counts();
    }
    const known = KNOWN_FINDINGS.find((finding) => finding.matches(label, res.status, sent));
    tally.see(surface, known ? `${res.status} (known: ${known.name})` : res.status);
    const after = await counts();
    if (res.status >= 500 && !known) problem(`${label}: ${res.status} ${String(res.text).slice(0, 300)}\n    ${describeCase()}`);
    if (res.status >= 400) {
      const fault = errorShapeFault(res.status, res.headers['content-type'], res.body, String(res.text));
      if (fault && !known) problem(`${label}: ${res.status} ${fault}\n    ${describeCase()}`);
      const written = Object.keys(after).filter((table) => after[table] !== before[table]);
      if (written.length) problem(`${label}: refused with ${res.status} ${res.body?.code}, yet rows were written: ${written.map((t) => `${t} ${before[t]} -> ${after[t]}`).join(', ')}\n    ${describeCase()}`);
    }
    return after;
  }

  it(`answers hostile JSON bodies of every POST/PATCH operation with 4xx in the error shape and writes nothing (${JSON_RUNS} cases)`, async () => {
    const t0 = Date.now();
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method, op]) => ['post', 'patch', 'put'].includes(method) && op.requestBody?.content['application/json'])
        .map(([method, op]) => ({ method, path, schema: op.requestBody!.content['application/json'].schema })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(16);
    const hostileIds = [ids.otherCaId, ids.otherCertificateId, ids.otherOrgId, ids.orgId, ids.certificateId, ids.caId, ids.profileId, ids.approvalIds[0], '00000000-0000-0000-0000-000000000000'];
    const hostile = hostileValue(hostileIds);
    let before = await counts();
    const perOperation = Math.ceil(JSON_RUNS / operations.length);
    for (const [index, { method, path, schema }] of operations.entries()) {
      const paths = fieldPaths(schema);
      const base = baseBody(method, path, schema);
      const bodyCase: fc.Arbitrary<BodyCase> = fc.oneof(
        { weight: 10, arbitrary: fc.record({ kind: fc.constant('field' as const), path: fc.nat(), value: hostile }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('extra' as const), key: fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ maxLength: 20 })), value: fc.oneof(hostile, fc.constant({ isAdmin: true, role: 'platform' })) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), path: fc.nat() }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('whole' as const), value: fc.oneof(hostile, fc.constant([base]), fc.constant({ data: base })) }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), raw: rawBody(base) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), value: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.object({ maxDepth: 2 })) }) },
      );
      const requestCase = fc.record({
        body: bodyCase,
        principal: fc.constantFrom('own', 'own', 'own', 'own', 'own', 'own', 'member', 'other tenant'),
        pathId: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...hostileIds, 'not-a-uuid', '%00', '..%2F..%2Fcas', '%F0%9F%94%A5', 'A'.repeat(300)), fc.uuid()) }),
        pick: fc.nat(),
      });
      const platform = path.startsWith('/api/v1/platform/');
      const route = `${method.toUpperCase()} ${path}`;
      const surface = `JSON ${route}`;
      const key = (principal: string) =>
        platform ? (principal === 'own' ? ids.platformKey : TEST_ADMIN_KEY) : principal === 'own' ? ids.adminKey : principal === 'member' ? ids.memberKey : ids.otherAdminKey;
      // First a sweep: every field path null, {} and [] in turn (what IsOptional lets through to the store).
      for (const fieldPath of paths) {
        for (const value of [null, {}, []]) {
          const url = path.replace('{id}', pathId(path, 0));
          const text = serialize(setPath(base, fieldPath, value));
          before = await judge(route, surface, () => request(http)[method as 'post'](url).set(bearer(key('own'))).set('Content-Type', 'application/json').send(text), before, () => `FUZZ_SEED=${SEED} ${route} ${url}: ${text.slice(0, 400)}`, text);
        }
      }
      await fc.assert(
        fc.asyncProperty(requestCase, async (c) => {
          const url = path.replace('{id}', c.pathId ?? pathId(path, c.pick));
          let text: string | Buffer;
          let contentType = 'application/json';
          const b = c.body;
          if (b.kind === 'field') text = paths.length ? serialize(setPath(base, paths[b.path % paths.length], b.value)) : serialize({ fuzz: b.value });
          else if (b.kind === 'extra') text = serialize(withOwn((base ?? {}) as Record<string, unknown>, b.key, b.value));
          else if (b.kind === 'drop') text = serialize(paths.length ? dropPath(base, paths[b.path % paths.length]) : base);
          else if (b.kind === 'whole' || b.kind === 'random') text = serialize(b.value);
          else ({ text, contentType } = b.raw);
          const describeCase = () => `FUZZ_SEED=${SEED} ${method.toUpperCase()} ${url} as ${c.principal}, ${contentType}: ${(Buffer.isBuffer(text) ? `<bytes ${text.toString('hex').slice(0, 200)}>` : text).slice(0, 400)}`;
          const sent = Buffer.isBuffer(text) ? text.toString('latin1') : text;
          before = await judge(route, surface, () => request(http)[method as 'post'](url).set(bearer(key(c.principal))).set('Content-Type', contentType).send(text as string), before, describeCase, sent);
          return true;
        }),
        { seed: SEED + index, numRuns: perOperation },
      );
      tally.see('JSON bodies, all operations', `${operations.length} operations`);
    }
    timings['JSON bodies'] = Date.now() - t0;
    expect(problems).toEqual([]);
  }, FUZZ_TEST_TIMEOUT_MS);

  it(`issues or refuses (4xx, no row) every mutated CSR in csr mode (${CSR_RUNS} cases)`, async () => {
    const t0 = Date.now();
    const seeds = fuzzSeedRequests();
    const pemNoise = fc.constantFrom(
      (p: string) => p,
      (p: string) => p.replace('CERTIFICATE REQUEST', 'CERTIFICATE'),
      (p: string) => p.replace(/\n/g, '\r\n'),
      (p: string) => p.replace(/-----END[^]*$/, ''),
      (p: string) => `${p}${p}`,
      (p: string) => p.replace(/[A-Za-z]/, '!'),
      (p: string) => `garbage before\n${p}garbage after`,
      (p: string) => p.replace(/\n/g, ''),
    );
    const csrCase = fc.record({ resign: fc.boolean(), seed: fc.nat(), mutations: derMutations(3), noise: fc.nat({ max: 20 }), pemNoise, subjectOverride: fc.boolean() });
    let before = await counts();
    await fc.assert(
      fc.asyncProperty(csrCase, async (c) => {
        const s = seeds[c.seed % seeds.length];
        const der = c.resign ? resignedCsrMutant(s.der, s.key, c.mutations) : applyDerMutations(s.der, c.mutations);
        const pem = c.noise === 0 ? c.pemNoise(toPem('CERTIFICATE REQUEST', der)) : toPem('CERTIFICATE REQUEST', der);
        const body = { caId: ids.caId, mode: 'csr', csrPem: pem, validityDays: 30, ...(c.subjectOverride ? { commonName: 'override.fuzz.example.test' } : {}) };
        const describeCase = () => `FUZZ_SEED=${SEED} base ${s.name}${c.resign ? ' (re-signed)' : ''}, mutations ${JSON.stringify(c.mutations satisfies DerMutation[])}; csrPem ${JSON.stringify(pem).slice(0, 300)}`;
        before = await judge('POST /api/v1/certificates csr mode', 'CSRs, POST /api/v1/certificates (csr mode)', () => request(http).post('/api/v1/certificates').set(bearer(ids.adminKey)).send(body), before, describeCase);
        return true;
      }),
      { seed: SEED, numRuns: CSR_RUNS },
    );
    timings.CSRs = Date.now() - t0;
    expect(problems).toEqual([]);
  }, FUZZ_TEST_TIMEOUT_MS);

  it(`answers every mutated OCSP request, POST and GET, with an OCSP answer or a 4xx, never internalError (${OCSP_RUNS} cases)`, async () => {
    const t0 = Date.now();
    writeFileSync(join(dir, 'ca.pem'), ids.caPem);
    writeFileSync(join(dir, 'leaf.pem'), ids.leafPem);
    writeFileSync(join(dir, 'revoked.pem'), ids.revokedPem);
    openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-reqout', 'sha1-nonce.der');
    openssl('ocsp', '-sha256', '-issuer', 'ca.pem', '-cert', 'revoked.pem', '-no_nonce', '-reqout', 'sha256.der');
    openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-cert', 'revoked.pem', '-reqout', 'two.der');
    const bases = ['sha1-nonce.der', 'sha256.der', 'two.der'].map((name) => ({ name, der: readFileSync(join(dir, name)) }));
    // The originals are answered (successful): the mutants start from requests that reach the lookup.
    for (const { der } of bases) {
      const res = await request(http).post('/pki/ocsp').set('Content-Type', 'application/ocsp-request').send(der).buffer(true).parse(binary);
      expect(ocspResponseStatus(res.body)).toBe(0);
    }
    const STATUS = ['successful', 'malformedRequest', 'internalError', 'tryLater', '4', 'sigRequired', 'unauthorized'];
    const getForm = fc.constantFrom(
      (der: Buffer) => encodeURIComponent(der.toString('base64')),
      (der: Buffer) => der.toString('base64'),
      (der: Buffer) => der.toString('base64url'),
      (der: Buffer) => der.toString('base64').replace(/\+/g, ' '),
      (der: Buffer) => `${der.toString('base64')}%`,
      (der: Buffer) => `${der.toString('base64')}%00`,
      (der: Buffer) => `..%2F${der.toString('base64')}`,
      (der: Buffer) => der.toString('hex'),
      (der: Buffer) => `${der.toString('base64')}?x=1`,
      (der: Buffer) => `${der.toString('base64')}/extra`,
    );
    const ocspCase = fc.record({
      base: fc.nat(),
      mutations: derMutations(3),
      method: fc.constantFrom('POST', 'GET'),
      getForm,
      contentType: fc.constantFrom('application/ocsp-request', 'application/ocsp-request', 'application/json', 'text/plain', ''),
    });
    await fc.assert(
      fc.asyncProperty(ocspCase, async (c) => {
        const base = bases[c.base % bases.length];
        const der = applyDerMutations(base.der, c.mutations);
        const url = c.method === 'GET' ? `/pki/ocsp/${c.getForm(der)}` : '/pki/ocsp';
        const describeCase = () => `FUZZ_SEED=${SEED} ${c.method} ${url.slice(0, 300)} from ${base.name}, mutations ${JSON.stringify(c.mutations)}; der ${der.toString('hex').slice(0, 300)}`;
        let res: request.Response;
        try {
          const pending = c.method === 'GET' ? request(http).get(url) : request(http).post(url).set('Content-Type', c.contentType).send(der);
          res = await pending.buffer(true).parse(binary).timeout({ response: 30_000 });
        } catch (error) {
          tally.see(`OCSP ${c.method}`, 'no answer');
          problem(`OCSP: no answer (${(error as Error).message})\n    ${describeCase()}`);
          return true;
        }
        let outcome = String(res.status);
        if (res.status >= 500) problem(`OCSP: ${res.status}\n    ${describeCase()}`);
        else if (res.status === 200 && /ocsp-response/.test(String(res.headers['content-type']))) {
          let status = -1;
          try {
            status = ocspResponseStatus(res.body);
          } catch {
            problem(`OCSP: 200 with an unreadable OCSP response ${res.body.toString('hex').slice(0, 100)}\n    ${describeCase()}`);
          }
          outcome = `200 ${STATUS[status] ?? status}`;
          if (status === 2) problem(`OCSP: internalError (a 5xx in OCSP's words)\n    ${describeCase()}`);
        } else if (res.status === 431 && !res.headers['content-type']) {
          // Known, left to the owner of libs/service http-app.ts (see 'fuzz findings' below): Node's own refusal, no JSON body.
          outcome = '431 (Node, not JSON: known)';
        } else if (res.status >= 400) {
          const fault = errorShapeFault(res.status, res.headers['content-type'], safeJson(res.body), res.body.toString('utf8'));
          if (fault) problem(`OCSP: ${res.status} ${fault}\n    ${describeCase()}`);
        } else if (res.status !== 304) problem(`OCSP: ${res.status} ${res.headers['content-type']}\n    ${describeCase()}`);
        tally.see(`OCSP ${c.method}`, outcome);
        return true;
      }),
      { seed: SEED, numRuns: OCSP_RUNS },
    );
    timings.OCSP = Date.now() - t0;
    expect(problems).toEqual([]);
  }, FUZZ_TEST_TIMEOUT_MS);

  describe('findings of the fuzzer, as plain cases', () => {
    it('refuses null for an enrollment policy field that has a default (validityDays, usage, allowedKeyAlgorithms): 400 naming it, no row (was a 500)', async () => {
      const before = await counts();
      const body = { name: 'Fuzz null policy', trustedCaIds: [ids.caId], issuingCaId: ids.caId, subjectRule: 'any' };
      for (const field of ['validityDays', 'usage', 'allowedKeyAlgorithms']) {
        const res = await request(http).post('/api/v1/enrollment-policies').set(bearer(ids.adminKey)).send({ ...body, [field]: null });
        expect({ field, status: res.status, code: res.body.code }).toEqual({ field, status: 400, code: 'validation_failed' });
        expect(JSON.stringify(res.body.details)).toContain(field);
      }
      expect(await counts()).toEqual(before);
      // Left out, they still take their defaults.
      const made = await request(http).post('/api/v1/enrollment-policies').set(bearer(ids.adminKey)).send(body).expect(201);
      expect(made.body.policy).toMatchObject({ validityDays: 90, usage: 'client', allowedKeyAlgorithms: [] });
    });

    it('refuses a CSR whose SAN holds control bytes (400, no row), which the signing lib lets through (see csr.fuzz.spec)', async () => {
      const before = await counts();
      for (const [tag, bytes] of [[0x82, 'a\u0000b.example.test'], [0x82, 'a\u0001b.example.test'], [0x86, 'https://x.test/\u0000']] as const) {
        const csrPem = toPem('CERTIFICATE REQUEST', sanBytesCsr('san.fuzz.example.test', tag, Buffer.from(bytes, 'latin1')));
        const res = await request(http).post('/api/v1/certificates').set(bearer(ids.adminKey)).send({ caId: ids.caId, mode: 'csr', csrPem });
        expect({ bytes, status: res.status, shape: errorShapeFault(res.status, res.headers['content-type'], res.body, res.text) }).toEqual({ bytes, status: 400, shape: null });
      }
      expect(await counts()).toEqual(before);
    });

    // Found by the fuzzer: IsOptional let null through to NOT NULL columns, a 500 (now OptionalNotNull).
    it('refuses null autoRenew / renewalThresholdDays in PATCH /certificates/:id with 400, not 500', async () => {
      for (const field of ['autoRenew', 'renewalThresholdDays']) {
        const res = await request(http).patch(`/api/v1/certificates/${ids.certificateId}`).set(bearer(ids.adminKey)).send({ [field]: null });
        expect({ field, status: res.status }).toEqual({ field, status: 400 });
      }
    });

    // Found by the fuzzer (a GET /pki/ocsp/<request> longer than Node's header limit): Node's parser
    // answered 431 itself, with no body (now libs/service parser-errors.ts, shared with the enroll server).
    it('answers a request whose headers are too large with 431 in the JSON error shape', async () => {
      const res = await request(http).get(`/pki/ocsp/${'A'.repeat(20_000)}`);
      expect(res.status).toBe(431);
      expect(errorShapeFault(res.status, res.headers['content-type'], res.body, String(res.text))).toBeNull();
    });
  });
});

/** superagent parser that keeps the body as bytes. */
function binary(res: request.Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

function safeJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
