import type { NestExpressApplication } from '@nestjs/platform-express';
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
  let app: NestExpressApplication;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;
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
    // The revoked key's 401 belongs to no org it could prove; the platform admin sees it.
    const all = await events(`?outcome=failed&eventType=http.&limit=1000`, TEST_ADMIN_KEY);
    expect(all.events.length).toBeGreaterThan(0);
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
