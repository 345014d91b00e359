/**
 * Webhooks (API.md section 9) against the real stack: the gateway in-process, a built signer, PostgreSQL
 * and Redis, on a database and queue prefix of this suite's own (so no other suite's gateway dispatches
 * or delivers for it). A receiver in the test verifies the signature of every request it gets.
 * - the REST API: create (secret shown once, stored encrypted, never audited), list, get, patch, delete,
 *   each bad field named, nothing half-written, other orgs and member keys kept out;
 * - issue, renew, revoke, a failed renewal and an approval reach the receiver as signed events;
 * - a receiver answering 500 then 200 gets the same id again; a ping;
 * - a receiver that hangs holds its deliveries while issuance goes on.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, clearRedisPrefix, createTestDatabase, dropTestDatabase, runId, stopService } from '@signet/testing';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { WebhookReceiver, startWebhookReceiver } from './webhooks-receiver';
import { createKey, createOrg, expectErrorShape, sleep, startGateway, startSigner, until, withKey } from './support';

describe('webhooks', () => {
  let databaseUrl: string;
  const prefix = `signet-test-webhooks-${runId()}`;
  let signer: RunningService;
  let gateway: NestFastifyApplication;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let db: Client;
  let receiver: WebhookReceiver;
  let orgId: string;
  let adminKey: string;
  let caId: string;

  const api = (key = adminKey) => withKey(http, key);
  const fieldsOf = (body: { details?: { fields?: { field: string }[] } }) => (body.details?.fields ?? []).map((f) => f.field).sort();
  const webhookRows = async () => Number((await db.query('SELECT count(*) AS n FROM webhooks WHERE org_id = $1', [orgId])).rows[0].n);
  /** A webhook of the org to `path` of the receiver, its secret registered there. */
  const webhook = async (path: string, events: string[]) => {
    const res = await api().post('/api/v1/webhooks', { url: receiver.url(path), events }).expect(201);
    receiver.secrets.set(path, res.body.secret);
    return res.body.webhook as { id: string };
  };
  const issue = async (commonName: string, extra: Record<string, unknown> = {}) =>
    (await api().post('/api/v1/certificates', { caId, commonName, validityDays: 30, ...extra }).expect(201)).body.certificate as { id: string };

  beforeAll(async () => {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    const env = { DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix };
    signer = await startSigner(env);
    gateway = await startGateway({
      ...env, WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), WEBHOOK_DISPATCH_INTERVAL_MS: '100', WEBHOOK_RETRY_BASE_MS: '300', WEBHOOK_TIMEOUT_MS: '10000',
    });
    http = gateway.getHttpServer();
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    receiver = await startWebhookReceiver();
    const org = await createOrg(gateway, 'Webhooks org');
    orgId = org.org.id;
    adminKey = org.adminKey;
    caId = (await api().post('/api/v1/cas', { name: 'Hooks root', subject: { commonName: 'Hooks Root' } }).expect(201)).body.ca.id;
  }, 60_000);

  afterAll(async () => {
    const steps: (() => Promise<unknown>)[] = [
      async () => receiver?.close(), async () => gateway?.close(), async () => signer && stopService(signer), async () => db?.end(),
      () => dropTestDatabase(databaseUrl), () => clearRedisPrefix(process.env.REDIS_URL as string, prefix),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('creates with the secret shown once and kept only encrypted; lists, gets, patches and deletes, each change audited', async () => {
    const created = await api().post('/api/v1/webhooks', { url: 'https://Hooks.Example.com:443/signet?x=1', events: ['certificate.issued', 'certificate.issued', 'approval.decided'], description: 'ops' }).expect(201);
    const { webhook: hook, secret } = created.body;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(hook).toEqual({
      id: expect.any(String), url: 'https://hooks.example.com/signet?x=1', events: ['certificate.issued', 'approval.decided'], description: 'ops', enabled: true,
      createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    const path = `/api/v1/webhooks/${hook.id}`;
    expect((await api().get(path).expect(200)).body).toEqual({ webhook: hook });
    const list = (await api().get('/api/v1/webhooks').expect(200)).body;
    expect(list).toEqual({ webhooks: [hook], total: 1, page: 1, pageSize: 20, totalPages: 1 });
    expect(JSON.stringify(list)).not.toContain(secret);

    // At rest: neither the secret nor its bytes in the row; in the audit log: the URL, not the secret.
    const stored = (await db.query('SELECT encrypted_secret FROM webhooks WHERE id = $1', [hook.id])).rows[0].encrypted_secret as Buffer;
    expect(stored.includes(Buffer.from(secret))).toBe(false);
    const audit = (await db.query(`SELECT event_type, details FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [hook.id])).rows;
    expect(audit).toEqual([{ event_type: 'webhook.create', details: { url: hook.url, events: hook.events } }]);

    const patched = (await api().patch(path, { events: ['certificate.revoked'], enabled: false, description: null }).expect(200)).body.webhook;
    expect(patched).toMatchObject({ id: hook.id, events: ['certificate.revoked'], enabled: false, description: null });
    // The same values again: nothing changes, nothing is audited.
    expect((await api().patch(path, { events: ['certificate.revoked'] }).expect(200)).body.webhook).toEqual(patched);
    await api().delete(path).expect(204);
    await api().get(path).expect(404);
    await api().delete(path).expect(404);
    // Each refused request is an event too, under the id it named (API.md, Audit): the GET under
    // http.request (the route names no event type), the DELETE under webhook.delete. They are written
    // after their responses, in batches (audit.service.ts), so the log is read once both are there.
    const events = await until('the refused GET and DELETE in the audit log', async () => {
      const rows = (await db.query(`SELECT event_type, outcome, details FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [hook.id])).rows;
      return rows.filter((e) => e.outcome === 'failed').length >= 2 && rows;
    });
    const changes = events.filter((e) => e.outcome === 'success');
    expect(changes.map((e) => e.event_type)).toEqual(['webhook.create', 'webhook.update', 'webhook.delete']);
    expect(changes[1].details.changed.sort()).toEqual(['description', 'enabled', 'events']);
    // Two batches need not commit in the order their requests were answered: the refusals in any order.
    const refusals = events.filter((e) => e.outcome !== 'success').map((e) => ({ type: e.event_type, outcome: e.outcome, method: e.details.method, status: e.details.status }));
    expect(refusals.sort((a, b) => a.method.localeCompare(b.method))).toEqual([
      { type: 'webhook.delete', outcome: 'failed', method: 'DELETE', status: 404 },
      { type: 'http.request', outcome: 'failed', method: 'GET', status: 404 },
    ]);
    expect(JSON.stringify(events)).not.toContain(secret);
  });

  it('refuses bad input naming each field, never half-written; other orgs and member keys are kept out', async () => {
    const before = await webhookRows();
    const refused = async (body: unknown, fields: string[]) => {
      const res = await api().post('/api/v1/webhooks', body);
      expect({ body, status: res.status, fields: fieldsOf(res.body) }).toEqual({ body, status: 400, fields });
      expectErrorShape(res.body, 'validation_failed', 400);
    };
    const ok = { url: 'https://example.com/hook', events: ['certificate.issued'] };
    await refused({ ...ok, url: 'ftp://example.com/hook' }, ['url']);
    await refused({ ...ok, url: 'example.com/hook' }, ['url']);
    await refused({ ...ok, url: 'https://user:pass@example.com/hook' }, ['url']);
    await refused({ ...ok, url: 'https://exa\nmple.com/hook' }, ['url']);
    await refused({ ...ok, url: `https://example.com/${'a'.repeat(2100)}` }, ['url']);
    await refused({ ...ok, url: 42 }, ['url']);
    await refused({ ...ok, events: ['certificate.issued', 'certificate.exploded'] }, ['events']);
    await refused({ ...ok, events: [] }, ['events']);
    await refused({ ...ok, events: 'certificate.issued' }, ['events']);
    await refused({ ...ok, events: [{}] }, ['events']);
    await refused({ url: 'gopher://x', events: ['nope'], description: 7 }, ['description', 'events', 'url']);
    await refused({ ...ok, secret: 'mine' }, ['secret']);
    expect(await webhookRows()).toBe(before);

    const hook = await webhook('/refusals', ['certificate.issued']);
    const path = `/api/v1/webhooks/${hook.id}`;
    for (const [body, fields] of [[{ url: null }, ['url']], [{ events: ['x'] }, ['events']], [{ enabled: 'yes' }, ['enabled']]] as const) {
      const res = await api().patch(path, body).expect(400);
      expect(fieldsOf(res.body)).toEqual(fields);
    }
    expect((await api().get(path).expect(200)).body.webhook).toMatchObject({ url: receiver.url('/refusals'), events: ['certificate.issued'], enabled: true });
    await api().get('/api/v1/webhooks/not-a-uuid').expect(404);

    const foreign = await createOrg(gateway, 'Other org');
    for (const res of [
      await api(foreign.adminKey).get(path), await api(foreign.adminKey).patch(path, { enabled: false }), await api(foreign.adminKey).delete(path),
      await api(foreign.adminKey).post(`${path}/test`, {}), await api(foreign.adminKey).get(`${path}/deliveries`),
    ]) expectErrorShape(res.body, 'not_found', 404);
    expect((await api(foreign.adminKey).get('/api/v1/webhooks').expect(200)).body.total).toBe(0);
    const member = (await createKey(gateway, adminKey, { name: 'member', role: 'member', permissions: { [caId]: { read: true, issue: true } } })).key;
    expectErrorShape((await api(member).get('/api/v1/webhooks')).body, 'forbidden', 403);
    expectErrorShape((await api(member).post('/api/v1/webhooks', ok)).body, 'forbidden', 403);
    await api().delete(path).expect(204);
  });

  it('sends issue, renew, revoke and a failed renewal as signed events; a ping too', async () => {
    const hook = await webhook('/lifecycle', ['certificate.issued', 'certificate.renewed', 'certificate.revoked', 'certificate.renewal_failed']);
    const ping = (await api().post(`/api/v1/webhooks/${hook.id}/test`, {}).expect(202)).body.delivery;
    expect(ping).toEqual({ id: expect.any(String), event: 'ping', status: 'pending', attempts: 0, lastStatusCode: null, lastError: null, createdAt: expect.any(String), deliveredAt: null });

    const issued = await issue('lifecycle.example.com');
    const renewed = (await api().post(`/api/v1/certificates/${issued.id}/renew`, {}).expect(201)).body.certificate;
    await api().post(`/api/v1/certificates/${renewed.id}/revoke`, { reason: 'keyCompromise' }).expect(200);
    // Renewing the renewed one again is refused: a renewal that failed.
    const failed = await api().post(`/api/v1/certificates/${issued.id}/renew`, {});
    expect(failed.status).toBeGreaterThanOrEqual(400);

    const got = await until('five deliveries at /lifecycle', async () => {
      const requests = receiver.requests('/lifecycle');
      return requests.length >= 5 && requests;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests('/lifecycle')).toHaveLength(5);
    for (const r of got) expect({ id: r.body.id, verified: r.verified }).toEqual({ id: r.body.id, verified: true });
    const byEvent = Object.fromEntries(got.map((r) => [r.body.event, r.body]));
    expect(Object.keys(byEvent).sort()).toEqual(['certificate.issued', 'certificate.renewal_failed', 'certificate.renewed', 'certificate.revoked', 'ping']);
    expect(byEvent.ping).toEqual({ id: ping.id, event: 'ping', createdAt: ping.createdAt, orgId, data: { webhookId: hook.id, message: expect.any(String) } });
    expect(byEvent['certificate.issued']).toEqual({
      id: expect.any(String), event: 'certificate.issued', createdAt: expect.any(String), orgId,
      data: { certificate: expect.objectContaining({ id: issued.id, commonName: 'lifecycle.example.com', caId }) },
    });
    expect(byEvent['certificate.renewed'].data.certificate).toMatchObject({ id: renewed.id, renewedFromId: issued.id });
    expect(byEvent['certificate.revoked'].data).toMatchObject({ certificate: { id: renewed.id, status: 'revoked' }, reason: 'keyCompromise' });
    expect(byEvent['certificate.renewal_failed'].data).toMatchObject({ certificate: { id: issued.id, supersededById: renewed.id }, error: { code: failed.body.code } });
    expect(got[0].headers['content-type']).toBe('application/json');
    expect(got.every((r) => r.headers['signet-delivery'] === r.body.id && r.headers['signet-event'] === r.body.event)).toBe(true);

    const log = await until('the delivery log says delivered', async () => {
      const page = (await api().get(`/api/v1/webhooks/${hook.id}/deliveries`).expect(200)).body;
      return page.deliveries.every((d: { status: string }) => d.status === 'delivered') && page.total === 5 && page;
    });
    expect(log.deliveries.map((d: { id: string }) => d.id).sort()).toEqual(got.map((r) => r.body.id).sort());
    expect(log.deliveries[0]).toEqual({
      id: expect.any(String), event: expect.any(String), status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null, createdAt: expect.any(String), deliveredAt: expect.any(String),
    });
    expect((await api().get(`/api/v1/webhooks/${hook.id}/deliveries?status=failed`).expect(200)).body.total).toBe(0);
    await api().get(`/api/v1/webhooks/${hook.id}/deliveries?status=lost`).expect(400);
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  });

  it('sends an approval request and its decision', async () => {
    const hook = await webhook('/approvals', ['approval.requested', 'approval.decided']);
    const profile = (await api().post('/api/v1/profiles', { name: 'Guarded', slug: 'guarded', caId, requireApproval: true }).expect(201)).body.profile;
    const approver = (await createKey(gateway, adminKey, { name: 'approver', role: 'admin' })).key;
    const asked = (await api().post('/api/v1/certificates', { profileId: profile.id, commonName: 'guarded.example.com', storeKey: true }).expect(202)).body.approval;
    await api(approver).post(`/api/v1/approvals/${asked.id}/approve`, {}).expect(200);
    const got = await until('two approval events', async () => receiver.requests('/approvals').length >= 2 && receiver.requests('/approvals'));
    expect(got.every((r) => r.verified)).toBe(true);
    expect(got.map((r) => r.body.event).sort()).toEqual(['approval.decided', 'approval.requested']);
    const decided = got.find((r) => r.body.event === 'approval.decided')!.body;
    expect(decided.data).toMatchObject({ decision: 'approved', approval: { id: asked.id, status: 'approved', certificateId: asked.id, commonName: 'guarded.example.com' } });
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  });

  it('retries a receiver that answers 500 with the same id until it answers 200', async () => {
    const hook = await webhook('/flaky', ['certificate.issued']);
    receiver.failFirst('/flaky', 2);
    const issued = await issue('flaky.example.com');
    const got = await until('three attempts at /flaky', async () => receiver.requests('/flaky').length >= 3 && receiver.requests('/flaky'), 30_000);
    expect(got.map((r) => [r.status, r.verified, r.body.id, r.body.data.certificate.id])).toEqual([
      [500, true, got[0].body.id, issued.id], [500, true, got[0].body.id, issued.id], [200, true, got[0].body.id, issued.id],
    ]);
    // Each attempt is signed anew over the same body.
    expect(new Set(got.map((r) => r.rawBody)).size).toBe(1);
    const [delivery] = await until('the retried delivery delivered', async () => {
      const page = (await api().get(`/api/v1/webhooks/${hook.id}/deliveries`).expect(200)).body;
      return page.deliveries[0]?.status === 'delivered' && page.deliveries;
    });
    expect(delivery).toMatchObject({ id: got[0].body.id, status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null });
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  });

  it('does not follow a redirect: the delivery records the 302 and is retried at its own URL', async () => {
    const hook = await webhook('/moved', ['certificate.issued']);
    receiver.redirect('/moved', '/elsewhere');
    const ping = (await api().post(`/api/v1/webhooks/${hook.id}/test`, {}).expect(202)).body.delivery;
    const [delivery] = await until('two attempts at /moved', async () => {
      const page = (await api().get(`/api/v1/webhooks/${hook.id}/deliveries`).expect(200)).body;
      return page.deliveries[0]?.attempts >= 2 && page.deliveries;
    });
    expect(delivery).toMatchObject({ id: ping.id, status: 'pending', lastStatusCode: 302, lastError: 'HTTP 302: redirects are not followed' });
    expect(receiver.requests('/moved').every((r) => r.verified && r.body.id === ping.id)).toBe(true);
    expect(receiver.requests('/elsewhere')).toEqual([]);
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  });

  it('waits for an event whose transaction commits after later ones, and passes one rolled back', async () => {
    const hook = await webhook('/late', ['certificate.issued', 'deployment.succeeded']);
    const late = new Client({ connectionString: databaseUrl });
    await late.connect();
    const recordDeployment = (target: string) =>
      late.query(`INSERT INTO audit_events (org_id, event_type, outcome, actor_type, details) VALUES ($1, 'deployment.succeeded', 'success', 'system', $2)`, [orgId, { target }]);
    try {
      // Its seq is taken now; the certificate's event after it commits first.
      await late.query('BEGIN');
      await recordDeployment('late');
      const first = await issue('after-late.example.com');
      await sleep(1500);
      // Many dispatches later the issued event still waits: the open transaction may still commit the seq before it.
      expect(receiver.requests('/late')).toEqual([]);
      await late.query('COMMIT');
      const arrived = await until('both events', async () => receiver.requests('/late').length >= 2 && receiver.requests('/late'));
      // Both are dispatched in seq order, but each is a delivery job of its own, run concurrently: the
      // receiver may see them in either order (deliveries carry no order promise; API.md section 9).
      const got = ['deployment.succeeded', 'certificate.issued'].map((event) => arrived.find((r) => r.body.event === event)!);
      expect(got.map((r) => [r?.body.event, r?.verified])).toEqual([['deployment.succeeded', true], ['certificate.issued', true]]);
      expect(got[0].body.data).toEqual({ resourceId: null, details: { target: 'late' } });
      expect(got[1].body.data.certificate.id).toBe(first.id);

      // A seq whose transaction rolls back never comes: the dispatcher passes it once that transaction has ended.
      await late.query('BEGIN');
      await recordDeployment('rolled back');
      const second = await issue('after-rollback.example.com');
      await late.query('ROLLBACK');
      const third = await until('the event after the rolled-back one', async () => receiver.requests('/late').length >= 3 && receiver.requests('/late'));
      expect(third.slice(2).map((r) => [r.body.event, r.body.data.certificate?.id])).toEqual([['certificate.issued', second.id]]);
    } finally {
      await late.end();
    }
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  });

  it('issues on while a receiver hangs', async () => {
    const hook = await webhook('/hang', ['certificate.issued']);
    receiver.hang('/hang');
    await issue('hang-1.example.com');
    await until('a delivery hanging at /hang', async () => receiver.hanging('/hang') > 0);
    // While it hangs (no answer, the connection open), issuing goes on and answers.
    for (let i = 2; i <= 4; i++) await issue(`hang-${i}.example.com`);
    expect(receiver.hanging('/hang')).toBeGreaterThan(0);
    expect(receiver.requests('/hang').every((r) => r.status === null)).toBe(true);
    receiver.release('/hang');
    await until('all four delivered after the receiver answers again', async () => {
      const page = (await api().get(`/api/v1/webhooks/${hook.id}/deliveries?status=delivered`).expect(200)).body;
      return page.total === 4;
    }, 45_000);
    const hung = (await api().get(`/api/v1/webhooks/${hook.id}/deliveries`).expect(200)).body.deliveries.filter((d: { attempts: number }) => d.attempts > 1);
    expect(hung.length).toBeGreaterThan(0);
    await api().delete(`/api/v1/webhooks/${hook.id}`).expect(204);
  }, 90_000);
});
