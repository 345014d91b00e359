/**
 * Expiry notices exactly once (API.md section 9: certificate.expiring at 30, 14, 7 and 1 days before
 * validTo, once each; certificate.expired), with two built gateway replicas sweeping every 100 ms on one
 * database, one of them killed (SIGKILL) and started again, and the signer killed and started again in
 * between; issuance events keep flowing across the signer's restart. The sweep is the gateway's (the
 * signer has no part in webhooks): the replica is what is killed to test it, the signer to show that its
 * absence stops nothing but issuance. A receiver in the test verifies every signature and counts.
 *
 * Certificates are issued with short validity (validityDays 1..25) and then moved through the windows by
 * setting their valid_to in SQL (the expiry sweep reads the row; nothing else here looks at it).
 */
import { RunningService, apiOk, clearRedisPrefix, createTestDatabase, dropTestDatabase, runId, startGatewayProcess, startSigner, stopService } from '@signet/testing';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { WebhookReceiver, startWebhookReceiver } from './webhooks-receiver';
import { TEST_ADMIN_KEY, sleep, until } from './support';

const PATH = '/expiry';

describe('webhook expiry notices with two gateway replicas, a replica and the signer restarted', () => {
  let databaseUrl: string;
  const prefix = `signet-test-webhooks-expiry-${runId()}`;
  let env: Record<string, string>;
  const masterKey = randomBytes(32).toString('base64');
  const processes: RunningService[] = [];
  let replicas: { gateway: RunningService; url: string }[] = [];
  let signer: RunningService;
  let db: Client;
  let receiver: WebhookReceiver;
  let adminKey: string;
  let caId: string;
  let webhookId: string;

  const startReplica = async () => {
    const started = await startGatewayProcess(env);
    processes.push(started.gateway);
    return started;
  };
  const startOwnSigner = async () => {
    const started = await startSigner({ ...env, MASTER_KEY: masterKey });
    processes.push(started);
    return started;
  };
  const kill = async (service: RunningService) => {
    service.child.kill('SIGKILL');
    await service.exited;
  };
  const api = (method: string, path: string, body?: object) => apiOk(replicas[0].url, method, path, { key: adminKey, body });
  const issue = async (commonName: string, validityDays: number) => (await api('POST', '/api/v1/certificates', { caId, commonName, validityDays })).certificate.id as string;
  const moveValidTo = (id: string, interval: string) => db.query(`UPDATE certificates SET valid_to = now() + $2::interval WHERE id = $1`, [id, interval]);

  /** (event, certificate id, daysBefore) of every request received, and the ids each was sent under. */
  const received = () => {
    const byKey = new Map<string, { ids: Set<string>; posts: number }>();
    for (const r of receiver.requests(PATH)) {
      const key = `${r.body.event} ${r.body.data.certificate.id} ${r.body.data.daysBefore ?? '-'}`;
      const seen = byKey.get(key) ?? { ids: new Set<string>(), posts: 0 };
      seen.ids.add(r.body.id);
      seen.posts++;
      byKey.set(key, seen);
    }
    return byKey;
  };
  /** Wait until the receiver has exactly `keys` and every delivery of the webhook is delivered (nothing in flight). */
  const settled = (keys: string[]) =>
    until(`notices ${keys.join(', ')}`, async () => {
      const { rows } = await db.query(`SELECT count(*) FILTER (WHERE status <> 'delivered')::int AS open, count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1`, [webhookId]);
      return rows[0].open === 0 && rows[0].n === keys.length && [...received().keys()].sort().join('|') === [...keys].sort().join('|');
    }, 30_000);

  beforeAll(async () => {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    env = {
      DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix, PLATFORM_ADMIN_KEY: TEST_ADMIN_KEY, WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
      WEBHOOK_DISPATCH_INTERVAL_MS: '100', WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS: '100', WEBHOOK_RETRY_BASE_MS: '200',
    };
    signer = await startOwnSigner();
    replicas = [await startReplica(), await startReplica()];
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    receiver = await startWebhookReceiver();
    const org = await apiOk(replicas[0].url, 'POST', '/api/v1/platform/orgs', { key: TEST_ADMIN_KEY, body: { name: 'Expiry org', slug: `expiry-${runId()}` } });
    adminKey = org.adminKey;
    caId = (await api('POST', '/api/v1/cas', { name: 'Expiry root', subject: { commonName: 'Expiry Root' } })).ca.id;
    const created = await apiOk(replicas[1].url, 'POST', '/api/v1/webhooks', {
      key: adminKey, body: { url: receiver.url(PATH), events: ['certificate.expiring', 'certificate.expired', 'certificate.issued'] },
    });
    webhookId = created.webhook.id;
    receiver.secrets.set(PATH, created.secret);
  }, 120_000);

  afterAll(async () => {
    const steps: (() => Promise<unknown>)[] = [
      async () => receiver?.close(), ...processes.map((p) => () => stopService(p, 5000)), async () => db?.end(),
      () => dropTestDatabase(databaseUrl), () => clearRedisPrefix(process.env.REDIS_URL as string, prefix),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('sends each notice once, whatever replica sweeps, through kills and restarts', async () => {
    const expected: string[] = [];
    const expect1 = (event: string, id: string, days: number | '-') => expected.push(`${event} ${id} ${days}`);

    // Issued inside their windows: each gets the notice of the tightest threshold it is inside.
    const c30 = await issue('c30.example.com', 25);
    const c14 = await issue('c14.example.com', 10);
    const c7 = await issue('c7.example.com', 5);
    const c1 = await issue('c1.example.com', 1);
    for (const id of [c30, c14, c7, c1]) expect1('certificate.issued', id, '-');
    expect1('certificate.expiring', c30, 30);
    expect1('certificate.expiring', c14, 14);
    expect1('certificate.expiring', c7, 7);
    expect1('certificate.expiring', c1, 1);
    await settled(expected);

    // A replica killed outright; the other sweeps on; the killed one comes back and sends nothing again.
    await kill(replicas[1].gateway);
    await moveValidTo(c30, '12 days');
    expect1('certificate.expiring', c30, 14);
    await settled(expected);
    replicas[1] = await startReplica();
    await sleep(1000);

    // The signer killed: notices go on (the sweep is the gateway's); then it comes back and issues again.
    await kill(signer);
    await moveValidTo(c30, '6 days');
    await moveValidTo(c14, '12 hours');
    expect1('certificate.expiring', c30, 7);
    expect1('certificate.expiring', c14, 1);
    await settled(expected);
    signer = await startOwnSigner();
    const c3 = await issue('c3.example.com', 3);
    expect1('certificate.issued', c3, '-');
    expect1('certificate.expiring', c3, 7);
    await settled(expected);

    // Expired, with the first replica killed this time and both sweeping again after its restart.
    await kill(replicas[0].gateway);
    replicas = [replicas[1], replicas[0]];
    await moveValidTo(c7, '-1 hour');
    await moveValidTo(c1, '-1 hour');
    expect1('certificate.expired', c7, '-');
    expect1('certificate.expired', c1, '-');
    await settled(expected);
    replicas[1] = await startReplica();
    // Many sweeps of both replicas later: nothing more.
    await sleep(1500);
    await settled(expected);

    const byKey = received();
    for (const [key, seen] of byKey) expect({ key, ids: seen.ids.size, posts: seen.posts }).toEqual({ key, ids: 1, posts: 1 });
    expect(receiver.requests(PATH).every((r) => r.verified)).toBe(true);
    const notices = (await db.query(`SELECT certificate_id, days_before FROM certificate_expiry_notices ORDER BY 1, 2`)).rows;
    expect(notices).toHaveLength(expected.filter((k) => !k.startsWith('certificate.issued')).length);
    const expired = receiver.requests(PATH).filter((r) => r.body.event === 'certificate.expired');
    expect(expired.map((r) => r.body.data.certificate.status)).toEqual(['expired', 'expired']);
  }, 240_000);
});
