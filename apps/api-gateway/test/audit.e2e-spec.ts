import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { AuditService } from '../src/app/audit/audit.service';
import { TEST_ADMIN_KEY, bearer, createKey, createOrg, startGateway } from './support';

interface AuditEvent {
  id: string;
  orgId: string | null;
  eventType: string;
  outcome: string;
  actor: { type: string; id: string | null; name: string | null };
  ip: string | null;
  resourceType: string | null;
  resourceId: string | null;
  details: Record<string, unknown>;
  error: { code: string; message: string } | null;
  durationMs: number | null;
}

describe('audit log', () => {
  let app: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let org: { org: { id: string }; adminKey: string };
  let member: { apiKey: { id: string }; key: string };

  const events = async (query: string, key = org.adminKey): Promise<{ events: AuditEvent[]; nextCursor: string | null }> => {
    await app.get(AuditService).flush();
    return (await request(http).get(`/api/v1/audit${query}`).set(bearer(key)).expect(200)).body;
  };

  beforeAll(async () => {
    app = await startGateway();
    http = app.getHttpServer();
    org = await createOrg(app, 'Audited');
    member = await createKey(app, org.adminKey, { name: 'member one', role: 'member' });
    await request(http).delete(`/api/v1/api-keys/${member.apiKey.id}`).set(bearer(org.adminKey)).expect(204);
    await request(http).get('/api/v1/whoami').set(bearer(member.key)).expect(401);
    await request(http).post('/api/v1/api-keys').set(bearer(org.adminKey)).send({ name: 'x', role: 'boss' }).expect(400);
  });
  afterAll(() => app.close());

  it('records every state change with actor, ip, resource and duration', async () => {
    const { events: changes } = await events('?outcome=success');
    const types = changes.map((e) => e.eventType);
    expect(types).toEqual(expect.arrayContaining(['org.create', 'apiKey.create', 'apiKey.revoke']));
    const revoke = changes.find((e) => e.eventType === 'apiKey.revoke')!;
    expect(revoke).toMatchObject({
      orgId: org.org.id,
      outcome: 'success',
      actor: { type: 'apiKey', id: expect.any(String), name: expect.any(String) },
      resourceType: 'apiKey',
      resourceId: member.apiKey.id,
      error: null,
    });
    expect(revoke.ip).toMatch(/127\.0\.0\.1/);
    expect(revoke.durationMs).toBeGreaterThanOrEqual(0);
    const orgCreate = changes.find((e) => e.eventType === 'org.create')!;
    expect(orgCreate.actor).toEqual({ type: 'apiKey', id: 'platform-admin', name: 'platform admin' });
  });

  it('records refused and failed requests with the error', async () => {
    const { events: failed } = await events('?outcome=failed');
    const invalid = failed.find((e) => e.eventType === 'apiKey.create');
    expect(invalid).toMatchObject({ outcome: 'failed', error: { code: 'validation_failed' }, details: { status: 400 } });
    // The revoked key's 401 belongs to no org it could prove; the platform admin sees it, counted.
    const all = await events(`?outcome=failed&eventType=auth.failed&limit=1000`, TEST_ADMIN_KEY);
    expect(all.events.length).toBeGreaterThan(0);
    expect(all.events[0]).toMatchObject({ orgId: null, error: { code: 'unauthorized' }, details: { count: expect.any(Number), statuses: [401] } });
  });

  it('filters by event type prefix, exact type, resource and days', async () => {
    const prefixed = await events('?eventType=apiKey.');
    expect(prefixed.events.length).toBeGreaterThanOrEqual(3);
    expect(prefixed.events.every((e) => e.eventType.startsWith('apiKey.'))).toBe(true);
    const exact = await events('?eventType=apiKey.revoke');
    expect(exact.events.map((e) => e.eventType)).toEqual(['apiKey.revoke']);
    const byResource = await events(`?resourceId=${member.apiKey.id}`);
    expect(byResource.events.every((e) => e.resourceId === member.apiKey.id)).toBe(true);
    expect((await events('?days=1')).events.length).toBeGreaterThan(0);
    const bad = await request(http).get('/api/v1/audit?days=-3&outcome=maybe').set(bearer(org.adminKey)).expect(400);
    expect(bad.body.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['days', 'outcome']);
  });

  it('pages with a cursor and caps limit at 1000', async () => {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    await client.query(
      `INSERT INTO audit_events (org_id, event_type, outcome, actor_type)
       SELECT $1, 'bulk.event', 'success', 'system' FROM generate_series(1, 1005)`,
      [org.org.id],
    );
    await client.end();
    const capped = await events('?eventType=bulk.event&limit=5000');
    expect(capped.events).toHaveLength(1000);
    expect(capped.nextCursor).not.toBeNull();
    const rest = await events(`?eventType=bulk.event&limit=1000&cursor=${capped.nextCursor}`);
    expect(rest.events).toHaveLength(5);
    expect(rest.nextCursor).toBeNull();
    const ids = new Set([...capped.events, ...rest.events].map((e) => e.id));
    expect(ids.size).toBe(1005);
  });

  it('never contains a key, a secret or the admin key', async () => {
    const second = await createKey(app, org.adminKey, { name: 'secretive', role: 'member' });
    const dump = JSON.stringify(await events('?limit=1000')) + JSON.stringify(await events('?limit=1000', TEST_ADMIN_KEY));
    for (const key of [org.adminKey, member.key, second.key, TEST_ADMIN_KEY]) {
      expect(dump).not.toContain(key.split('_').pop());
    }
  });

  it('cannot be changed: there is no route, and the database refuses', async () => {
    await request(http).delete('/api/v1/audit').set(bearer(TEST_ADMIN_KEY)).expect(404);
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    await expect(client.query(`UPDATE audit_events SET outcome = 'failed'`)).rejects.toThrow(/append-only/);
    await client.end();
  });
});

/**
 * Noise is counted, not written a row each, and the address it is counted under is the TCP peer unless
 * a trusted proxy says otherwise (issue 18, finding 6).
 */
describe('audit of unauthenticated and rate-limited noise', () => {
  const gateways: NestFastifyApplication[] = [];
  let db: Client;
  const LIMIT = 5;

  const start = async (overrides: Record<string, string>) => {
    // Rate-limit counters of this block's own: no other file's requests count against its IP.
    const app = await startGateway({ QUEUE_PREFIX: `${process.env.QUEUE_PREFIX}-noise-${gateways.length}`, ...overrides });
    gateways.push(app);
    return app;
  };
  const lastSeq = async () => (await db.query(`SELECT coalesce(max(seq), 0)::text AS s FROM audit_events`)).rows[0].s as string;
  // Other files' gateways write events too: a path of the test's own tells its events apart.
  const ownPath = () => `/api/v1/certificates/${randomUUID()}`;
  const failedSince = async (seq: string, path: string) =>
    (await db.query(
      `SELECT event_type, ip, details, error FROM audit_events WHERE seq > $1 AND outcome = 'failed' AND (details->'paths' ? $2 OR details->>'path' = $2) ORDER BY seq`,
      [seq, path],
    )).rows as {
      event_type: string; ip: string | null; details: Record<string, unknown>; error: { code: string };
    }[];
  const madeUp = (i: number) => ({ Authorization: `Bearer sgn_${'a'.repeat(8)}${i}_${'b'.repeat(30)}` });

  beforeAll(async () => {
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await db?.end();
  });

  it('writes one event per window for 30 requests with made-up keys, and for the 429s past the limit, each with its count', async () => {
    const app = await start({ RATE_LIMIT_GENERAL: String(LIMIT) });
    const server = app.getHttpServer();
    await app.get(AuditService).flush();
    const since = await lastSeq();
    const path = ownPath();
    const statuses: number[] = [];
    // A new X-Forwarded-For each time: without a trusted proxy it changes nothing, neither the limit nor the address.
    for (let i = 0; i < 30; i++) statuses.push((await request(server).get(path).set(madeUp(i)).set('X-Forwarded-For', `203.0.113.${i}`)).status);
    expect(statuses).toEqual([...Array(LIMIT).fill(401), ...Array(30 - LIMIT).fill(429)]);
    await app.get(AuditService).flush();

    const rows = await failedSince(since, path);
    expect(rows.map((r) => [r.event_type, r.error.code, r.details.count])).toEqual([
      ['auth.failed', 'unauthorized', LIMIT],
      ['rateLimit.exceeded', 'rate_limited', 30 - LIMIT],
    ]);
    for (const row of rows) {
      expect(row.ip).toMatch(/127\.0\.0\.1|::1/);
      expect(row.details).toMatchObject({ paths: [path], firstAt: expect.any(String), lastAt: expect.any(String) });
    }
  });

  it('still writes a verified key\'s refusals one by one', async () => {
    const app = await start({});
    const { adminKey } = await createOrg(app, 'Refused');
    await app.get(AuditService).flush();
    const since = await lastSeq();
    const path = ownPath();
    for (let i = 0; i < 3; i++) await request(app.getHttpServer()).get(path).set(bearer(adminKey)).expect(404);
    await app.get(AuditService).flush();
    const rows = await failedSince(since, path);
    expect(rows.map((r) => [r.event_type, r.error.code, r.details.status])).toEqual(Array(3).fill(['certificate.get', 'not_found', 404]));
  });

  it('believes X-Forwarded-For only from TRUST_PROXY hops, walking it from the right', async () => {
    const app = await start({ TRUST_PROXY: '127.0.0.0/8, ::1, 10.0.0.0/8', RATE_LIMIT_GENERAL: String(LIMIT) });
    const server = app.getHttpServer();
    await app.get(AuditService).flush();
    const since = await lastSeq();
    const path = ownPath();
    const cases: [string, string][] = [
      // client, then a trusted hop: the client
      ['198.51.100.9, 10.1.2.3', '198.51.100.9'],
      // a hop that is not ours: it is the client, whatever it claims before it
      ['198.51.100.9, 192.0.2.1', '192.0.2.1'],
      // garbage from a trusted proxy: the peer
      ['nonsense', 'peer'],
    ];
    for (const [header] of cases) await request(server).get(path).set(madeUp(0)).set('X-Forwarded-For', header).expect(401);
    // Counted per client: another 2 * LIMIT requests from two clients behind the proxy are not refused.
    for (let i = 0; i < 2 * LIMIT; i++) {
      await request(server).get(path).set(madeUp(0)).set('X-Forwarded-For', `198.51.100.${100 + (i % 2)}, 10.0.0.1`).expect(401);
    }
    await app.get(AuditService).flush();
    const ips = (await failedSince(since, path)).map((r) => r.ip);
    expect(ips.slice(0, 2)).toEqual(['198.51.100.9', '192.0.2.1']);
    expect(ips[2]).toMatch(/127\.0\.0\.1|::1/);
    expect(ips.slice(3).sort()).toEqual(['198.51.100.100', '198.51.100.101']);
  });
});
