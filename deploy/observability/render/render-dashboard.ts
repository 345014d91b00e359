/**
 * The Grafana dashboard (deploy/observability/signet-dashboard.json) rendered from real data, without
 * Grafana: the built signer, gateway and enroll server on loopback with a database and queue prefix of
 * their own, a Prometheus (Debian's binary) running the sample deploy/observability/prometheus.yml (the
 * three /metrics every 2 s, alerts.yml evaluated), a mixed workload for a few minutes, then every panel's queries run against Prometheus's
 * HTTP API over the run and drawn as hand-written SVG (line charts, tables; title, axes, legend):
 * docs/img/dashboard-<panel>.svg, docs/img/dashboard.svg (all panels in the dashboard's grid) and
 * docs/DASHBOARD.md (how, when, what the workload did, each panel's query and whether it had data).
 *
 *   npm run build && node bench/run-ts.js deploy/observability/render/render-dashboard.ts
 *       [--minutes 6] [--out docs] [--prometheus prometheus] [--keep-data]
 *
 * Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL; defaults as the tests), `prometheus` and
 * `openssl` on PATH. Removes its database, Redis keys, Prometheus data and temp folder at the end (also on
 * failure or Ctrl-C); --keep-data keeps the Prometheus data folder and prints where. A manual documentation
 * tool: not part of `npm test`. More in ./README.md.
 */
import {
  Http01Responder, RunningPrometheus, RunningService, TestDnsServer, clearRedisPrefix, createTestDatabase, dropTestDatabase, freePort, runId, spawnService,
  startDnsServer, startHttp01Responder, startPrometheus as startPrometheusOn, stopService, testServiceEnv, waitForHttp,
} from '@signet/testing';
import * as acme from 'acme-client';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { AddressInfo } from 'node:net';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Client } from 'pg';

// ------------------------------------------------------------------------------------------ settings

const ROOT = resolve(__dirname, '..', '..', '..');
const DASHBOARD_FILE = join(ROOT, 'deploy/observability/signet-dashboard.json');
const ALERTS_FILE = join(ROOT, 'deploy/observability/alerts.yml');
const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const MINUTES = Number(arg('minutes', '6'));
const OUT = resolve(ROOT, arg('out', 'docs'));
const PROMETHEUS = arg('prometheus', 'prometheus');
const KEEP_DATA = argv.includes('--keep-data');
const SCRAPE_SECONDS = 2;

/**
 * Time compressed so that a few minutes show what days would: OCSP responses and CRLs valid 15 min and
 * re-signed once within 12 min of nextUpdate (so every ~3 min: a sawtooth in the freshness panels instead
 * of a line slowly falling from 4 d / 1 d), sweeps and the gauge collector every few seconds, webhook retries
 * from 20 ms (a dead receiver is given up after 8640 x 20 ms = 173 s instead of 24 h). Everything else is
 * the services' defaults, rate limits included except the three below.
 */
const SIGNER_TUNING = {
  OCSP_VALIDITY_SECONDS: '900', OCSP_REFRESH_MARGIN_SECONDS: '720', CRL_VALIDITY_SECONDS: '900', CRL_REFRESH_MARGIN_SECONDS: '720',
  CRL_REBUILD_DELAY_MS: '2000', REVOCATION_SWEEP_INTERVAL_MS: '10000', RENEWAL_SWEEP_INTERVAL_MS: '20000', METRICS_COLLECT_INTERVAL_MS: '2000',
};
const GATEWAY_TUNING = {
  RATE_LIMIT_GENERAL: '300', RATE_LIMIT_ISSUE: '120', RATE_LIMIT_BATCH: '3',
  WEBHOOK_DISPATCH_INTERVAL_MS: '500', WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_EXPIRY_SWEEP_INTERVAL_MS: '30000',
  ACME_VALIDATION_ATTEMPTS: '1', ACME_VALIDATION_RETRY_MS: '200', ACME_VALIDATION_TIMEOUT_MS: '3000',
};

const log = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];
const errorText = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0].slice(0, 80);

// --------------------------------------------------------------------------------------- the run

const work = mkdtempSync(join(tmpdir(), 'signet-render-dashboard-'));
const queuePrefix = `signet-render-${runId()}`;
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const platformAdminKey = `signet-render-platform-${randomBytes(16).toString('hex')}`;
const services: { name: string; service: RunningService }[] = [];
let prometheus: RunningPrometheus | null = null;
let http01: Http01Responder | null = null;
let databaseUrl: string | null = null;
const servers: Server[] = [];
let dns: TestDnsServer | null = null;

/** What the workload did: action -> outcome -> count. */
const tally = new Map<string, Map<string, number>>();
const count = (action: string, outcome: string | number) => {
  const outcomes = tally.get(action) ?? new Map<string, number>();
  outcomes.set(String(outcome), (outcomes.get(String(outcome)) ?? 0) + 1);
  tally.set(action, outcomes);
};

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const s of services.reverse()) await stopService(s.service).catch(() => undefined);
    await prometheus?.stop().catch(() => undefined);
    for (const server of servers) server.close();
    await http01?.close().catch(() => undefined);
    await dns?.close().catch(() => undefined);
    if (databaseUrl) await dropTestDatabase(databaseUrl).catch((e) => log(`could not drop the database: ${errorText(e)}`));
    await clearRedisPrefix(redisUrl, queuePrefix).catch((e) => log(`could not delete Redis keys: ${errorText(e)}`));
    if (KEEP_DATA) log(`Prometheus data kept in ${join(work, 'prometheus')}`);
    else rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

async function startService(name: 'api-gateway' | 'signer' | 'enroll', env: Record<string, string>, healthUrl: string): Promise<RunningService> {
  const service = spawnService(name, env);
  services.push({ name, service });
  await waitForHttp(healthUrl, service, 60000);
  return service;
}

/** One JSON call to the gateway: status and body, whatever the status. */
let gatewayUrl = '';
async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gatewayUrl}${path}`, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}
async function ok(key: string, method: string, path: string, body?: unknown): Promise<any> {
  const answer = await call(key, method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
  return answer.body;
}

const openssl = (args: string[]) =>
  new Promise<string>((done, fail) => execFile('openssl', args, { cwd: work, timeout: 20000 }, (error, stdout, stderr) => (error ? fail(new Error(`${stderr}`)) : done(stdout))));

interface Stack {
  signerMetrics: string;
  enrollMetrics: string;
  enrollPort: number;
  http01Port: number;
}

async function startStack(): Promise<Stack> {
  databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
  process.env.DATABASE_URL = databaseUrl;
  process.env.REDIS_URL = redisUrl;
  process.env.QUEUE_PREFIX = queuePrefix;
  const ports = new Set<number>();
  while (ports.size < 8) ports.add(await freePort());
  const [port, httpsPort, signerPort, enrollHealthPort, enrollPort, http01Port, tlsAlpnPort] = [...ports];
  gatewayUrl = `http://127.0.0.1:${port}`;

  dns = await startDnsServer({ zone: 'acme.test' });
  dns.setDefaultA('127.0.0.1');

  // The signer first: it writes the gateway's HTTP port into every certificate (OCSP, CRL), as acme-stack does.
  await startService('signer', {
    ...testServiceEnv(), MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(signerPort), PUBLIC_BASE_URL: gatewayUrl, ...SIGNER_TUNING,
  }, `http://127.0.0.1:${signerPort}/healthz`);
  await startService('api-gateway', {
    ...testServiceEnv(), HOST: '127.0.0.1', PORT: String(port), HTTPS_PORT: String(httpsPort), PUBLIC_BASE_URL: gatewayUrl, PLATFORM_ADMIN_KEY: platformAdminKey,
    WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), ACME_DNS_RESOLVER: dns.address, ACME_HTTP01_PORT: String(http01Port),
    ACME_TLSALPN01_PORT: String(tlsAlpnPort), ...GATEWAY_TUNING,
  }, `${gatewayUrl}/healthz`);
  return {
    signerMetrics: `127.0.0.1:${signerPort}`, enrollMetrics: `127.0.0.1:${enrollHealthPort}`, enrollPort, http01Port,
  };
}

async function startEnroll(stack: Stack, serverCaId: string): Promise<void> {
  await startService('enroll', {
    ...testServiceEnv(), ENROLL_PORT: String(stack.enrollPort), ENROLL_HEALTH_PORT: stack.enrollMetrics.split(':')[1], ENROLL_TLS_CA_ID: serverCaId,
    ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '1000',
  }, `http://${stack.enrollMetrics}/healthz`);
}

/** Prometheus running deploy/observability/prometheus.yml with this stack's targets, scraping and evaluating every 2 s. */
async function startPrometheus(stack: Stack): Promise<string> {
  prometheus = await startPrometheusOn({
    dir: join(work, 'prometheus'), intervalSeconds: SCRAPE_SECONDS, binary: PROMETHEUS,
    targets: { 'signet-gateway': gatewayUrl.replace('http://', ''), 'signet-signer': stack.signerMetrics, 'signet-enroll': stack.enrollMetrics },
  });
  return prometheus.url;
}

// ----------------------------------------------------------------------------------- the workload

interface Issued { id: string; pemFile: string; issuerFile: string; pool: 'web' | 'iot' }
interface World {
  org: { id: string; slug: string };
  keys: Record<'app' | 'iot' | 'ci' | 'bulk' | 'poller', string>;
  cas: Record<'root' | 'web' | 'device' | 'enrollServer' | 'bootstrap', { id: string; name: string; pemFile: string }>;
  profiles: Record<'web' | 'short' | 'legacy' | 'acme', { id: string; slug: string }>;
  devices: { name: string; cert: string; key: string }[];
  stranger: { cert: string; key: string };
  serverCaPem: string;
}

async function createWorld(adminKey: string, org: { id: string; slug: string }): Promise<World> {
  const key = async (name: string) => (await ok(adminKey, 'POST', '/api/v1/api-keys', { name, role: 'admin' })).key as string;
  const keys = { app: await key('web team'), iot: await key('device fleet'), ci: await key('CI pipeline'), bulk: await key('bulk import'), poller: await key('inventory poller') };
  const ca = async (name: string, commonName: string, parentCaId?: string) => {
    const made = (await ok(adminKey, 'POST', '/api/v1/cas', { name, subject: { commonName }, ...(parentCaId ? { parentCaId } : {}) })).ca;
    const pemFile = `ca-${made.id}.pem`;
    writeFileSync(join(work, pemFile), made.certificatePem);
    return { id: made.id as string, name, pemFile, pem: made.certificatePem as string };
  };
  const root = await ca('Render root', 'Signet Render Root CA');
  const web = await ca('Web issuing', 'Signet Render Web Issuing CA', root.id);
  const device = await ca('Device issuing', 'Signet Render Device Issuing CA', root.id);
  const enrollServer = await ca('Enroll server TLS', 'Signet Render Enroll Server CA');
  const bootstrap = await ca('Device bootstrap', 'Signet Render Device Bootstrap CA');
  const profile = async (body: Record<string, unknown>) => {
    const made = (await ok(adminKey, 'POST', '/api/v1/profiles', body)).profile;
    return { id: made.id as string, slug: made.slug as string };
  };
  const profiles = {
    web: await profile({ name: 'Web services', slug: 'web', caId: web.id, allowedDomains: ['example.com'], defaultValidityDays: 30 }),
    short: await profile({ name: 'Short-lived', slug: 'short-lived', caId: web.id, allowedDomains: ['example.com'], defaultValidityDays: 3 }),
    legacy: await profile({ name: 'Legacy', slug: 'legacy', caId: web.id, allowedDomains: ['legacy.example.net'], defaultValidityDays: 3 }),
    acme: await profile({ name: 'ACME', slug: 'acme', caId: web.id, allowedDomains: ['acme.test'], defaultValidityDays: 30, acmeEabRequired: false }),
  };
  await ok(adminKey, 'POST', '/api/v1/enrollment-policies', { name: 'Sensors', trustedCaIds: [bootstrap.id], issuingCaId: device.id, subjectRule: 'match-client-cn', validityDays: 30 });
  const devices = [];
  for (let i = 1; i <= 5; i++) {
    const made = await ok(adminKey, 'POST', '/api/v1/certificates', { caId: bootstrap.id, commonName: `sensor-${i}`, usage: 'client', validityDays: 365 });
    devices.push({ name: `sensor-${i}`, cert: made.certificate.certificatePem as string, key: made.privateKey as string });
  }
  // A client certificate from a CA no enrollment policy trusts.
  const strangerMade = await ok(adminKey, 'POST', '/api/v1/certificates', { caId: web.id, commonName: 'laptop-7', usage: 'client', validityDays: 30 });
  const strip = ({ pem: _pem, ...rest }: { id: string; name: string; pemFile: string; pem: string }) => rest;
  return {
    org, keys, profiles, devices, stranger: { cert: strangerMade.certificate.certificatePem, key: strangerMade.privateKey },
    cas: { root: strip(root), web: strip(web), device: strip(device), enrollServer: strip(enrollServer), bootstrap: strip(bootstrap) }, serverCaPem: enrollServer.pem,
  };
}

/** A webhook receiver answering 500 to one delivery in ten (retried), 204 otherwise; and a URL where nothing listens. */
async function startWebhookReceiver(): Promise<{ url: string; deadUrl: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const fail = Math.random() < 0.1;
      let event = '?';
      try {
        event = JSON.parse(Buffer.concat(chunks).toString()).event;
      } catch {
        /* counted as ? */
      }
      count('webhook receiver', `${event}: ${fail ? 500 : 204}`);
      res.writeHead(fail ? 500 : 204).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/signet`, deadUrl: `http://127.0.0.1:${await freePort()}/gone` };
}

async function workload(world: World, stack: Stack, adminKey: string, seconds: number): Promise<void> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const at = (fraction: number) => started + fraction * seconds * 1000;
  const active: Issued[] = [];
  const ocspRequests: { der: Buffer; kind: string }[] = [];
  let n = 0;

  /** `fn` again and again, every `ms` on average (jittered), until the deadline; errors counted, never thrown. */
  const loop = async (action: string, ms: number, fn: () => Promise<void>, firstAfterMs = 0) => {
    await sleep(Math.min(firstAfterMs, Math.max(0, deadline - Date.now())));
    while (Date.now() < deadline) {
      const t = Date.now();
      try {
        await fn();
      } catch (e) {
        count(action, `error: ${errorText(e)}`);
      }
      await sleep(Math.max(0, Math.min(deadline - Date.now(), ms * (0.6 + 0.8 * Math.random()) - (Date.now() - t))));
    }
  };
  /** Keep a new certificate for revocation and (one in four) OCSP. */
  const keep = async (body: any, pool: Issued['pool'], issuerFile: string) => {
    const cert = body.certificate;
    const pemFile = `leaf-${cert.id}.pem`;
    writeFileSync(join(work, pemFile), cert.certificatePem);
    const issued = { id: cert.id, pemFile, issuerFile, pool };
    active.push(issued);
    if (ocspRequests.length < 60 && Math.random() < 0.25) {
      const reqFile = `ocsp-${cert.id}.der`;
      await openssl(['ocsp', '-issuer', issuerFile, '-cert', pemFile, '-no_nonce', '-reqout', reqFile]);
      ocspRequests.push({ der: readFileSync(join(work, reqFile)), kind: 'issued' });
    }
  };
  const issue = async (action: string, key: string, body: Record<string, unknown>, pool: Issued['pool'] | null, issuerFile: string) => {
    const answer = await call(key, 'POST', '/api/v1/certificates', body);
    count(action, answer.status === 201 ? 201 : `${answer.status} ${answer.body?.error?.code ?? answer.body?.code ?? ''}`.trim());
    if (answer.status === 201 && pool) await keep(answer.body, pool, issuerFile);
    return answer;
  };
  const burst = async (action: string, total: number, parallel: number, fn: (i: number) => Promise<{ status: number; body: any }>) => {
    let next = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next < total) {
        const i = next++;
        const answer = await fn(i).catch((e) => ({ status: 0, body: { error: { code: errorText(e) } } }));
        count(action, answer.status === 429 ? '429 rate limited' : answer.status);
      }
    }));
  };

  // An unknown serial for OCSP ("unauthorized"): never issued by this CA.
  await openssl(['ocsp', '-issuer', world.cas.web.pemFile, '-serial', '0x5EED5EED5EED5EED', '-no_nonce', '-reqout', 'ocsp-unknown.der']);
  const unknownOcsp = { der: readFileSync(join(work, 'ocsp-unknown.der')), kind: 'unknown serial' };

  // autoRenew certificates (3 d, renewed within 2 d of validTo) under "legacy", whose allowed domain is
  // withdrawn part-way: renewals of those aged after that fail. More under "short-lived" come below.
  for (let i = 1; i <= 4; i++) {
    await issue('issue legacy (autoRenew)', world.keys.app, { profileId: world.profiles.legacy.id, commonName: `app-${i}.legacy.example.net`, autoRenew: true, storeKey: true, renewalThresholdDays: 2 }, null, world.cas.web.pemFile);
  }
  let shortLived = 0;
  const db = new Client({ connectionString: databaseUrl as string });
  await db.connect();

  const webhooks = await startWebhookReceiver();
  await ok(adminKey, 'POST', '/api/v1/webhooks', { url: webhooks.url, events: ['certificate.issued', 'certificate.renewed', 'certificate.renewal_failed', 'certificate.revoked', 'certificate.expiring'] });
  await ok(adminKey, 'POST', '/api/v1/webhooks', { url: webhooks.deadUrl, events: ['certificate.revoked'], description: 'a receiver that was decommissioned' });

  const acmeClients = await Promise.all([0, 1, 2].map(async () => new acme.Client({
    directoryUrl: `${gatewayUrl}/acme/${world.org.slug}/${world.profiles.acme.slug}/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(), backoffMin: 200, backoffMax: 2000, backoffAttempts: 12,
  })));
  const enrollKey = await acme.crypto.createPrivateEcdsaKey();

  /** One HTTPS request to the enroll port with `client` as the TLS client certificate (or none). */
  const enroll = (client: { cert: string; key: string } | null, body: string) => new Promise<number>((done, fail) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: stack.enrollPort, path: '/v1/enroll', method: 'POST', ca: world.serverCaPem, agent: false, timeout: 10000,
      ...(client ? { cert: client.cert, key: client.key } : {}), headers: { 'Content-Type': 'application/pkcs10', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(body);
  });

  const tasks = [
    // The web team: certificates under the web profile; one in ten for a name the profile does not allow.
    loop('issue web (profile web)', 1500, async () => {
      const outside = Math.random() < 0.1;
      await issue('issue web (profile web)', world.keys.app, { profileId: world.profiles.web.id, commonName: outside ? `svc-${++n}.example.org` : `svc-${++n}.example.com` }, 'web', world.cas.web.pemFile);
    }),
    // The device fleet: client certificates without a profile, some short (they show as expiring within 7 d).
    loop('issue device (no profile)', 2500, async () => {
      await issue('issue device (no profile)', world.keys.iot, { caId: world.cas.device.id, commonName: `device-${++n}`, usage: 'client', validityDays: pick([3, 5, 20, 60, 90]) }, 'iot', world.cas.device.pemFile);
    }),
    // autoRenew with a kept key: 3-day certificates renewed within 2 days of validTo (up to 30 of them).
    loop('issue short-lived (autoRenew)', 12000, async () => {
      if (shortLived++ >= 30) return;
      await issue('issue short-lived (autoRenew)', world.keys.app, {
        profileId: world.profiles.short.id, commonName: `app-${++n}.example.com`, autoRenew: true, storeKey: true, renewalThresholdDays: 2,
      }, null, world.cas.web.pemFile);
    }),
    // Time passing for them: two not yet due have their validity moved back so that 30 h of it are left (in
    // this run's own database; validFrom moves too, as the sweep counts half the lifetime: a certificate is
    // never due earlier than that), so the renewal sweep (every 20 s) renews each once. Why not a validity shorter than the
    // threshold: such a certificate's successor is due at once, and one sweep pass renews the chain again
    // and again for its whole 50 s budget.
    loop('age 2 autoRenew certificates (validTo now + 30 h)', 10000, async () => {
      const aged = await db.query(
        `UPDATE certificates SET valid_from = valid_from - (valid_to - (now() + interval '30 hours')), valid_to = now() + interval '30 hours' WHERE id IN (SELECT id FROM certificates WHERE org_id = $1 AND auto_renew
           AND status = 'active' AND superseded_by_id IS NULL AND valid_to > now() + interval '2 days' ORDER BY random() LIMIT 2) RETURNING profile_id`,
        [world.org.id],
      );
      for (const row of aged.rows) count('age 2 autoRenew certificates (validTo now + 30 h)', row.profile_id === world.profiles.legacy.id ? 'legacy' : 'short-lived');
    }, 15000),
    // Manual renewals through the API.
    loop('renew (POST /renew)', 20000, async () => {
      const target = active.filter((c) => c.pool === 'web');
      if (!target.length) return;
      const old = pick(target);
      const answer = await call(world.keys.app, 'POST', `/api/v1/certificates/${old.id}/renew`, {});
      count('renew (POST /renew)', answer.status);
      if (answer.status === 201) await keep(answer.body, 'web', old.issuerFile);
    }, 10000),
    // Revocations, by a realistic spread of reasons; each schedules a CRL build.
    loop('revoke', 3000, async () => {
      if (active.length < 10) return;
      const victim = active.splice(Math.floor(Math.random() * active.length), 1)[0];
      const reason = pick(['superseded', 'superseded', 'superseded', 'cessationOfOperation', 'cessationOfOperation', 'affiliationChanged', 'keyCompromise', 'unspecified']);
      const answer = await call(world.keys.app, 'POST', `/api/v1/certificates/${victim.id}/revoke`, { reason });
      count('revoke', `${answer.status} ${reason}`);
    }, 15000),
    // Bulk imports: a batch of 60 every 80 s (queue depth); at 60 % of the run, four batch calls at once (limit 3 a minute).
    loop('batch of 60', 80000, async () => {
      const items = Array.from({ length: 60 }, () => ({ profileId: world.profiles.web.id, commonName: `batch-${++n}.example.com` }));
      const answer = await call(world.keys.bulk, 'POST', '/api/v1/certificates/batch', { items });
      count('batch of 60', `${answer.status}${answer.status === 201 ? ` (${answer.body.successful} ok)` : ''}`);
    }, 20000),
    (async () => {
      await sleep(Math.max(0, at(0.6) - Date.now()));
      await burst('batch burst (4 calls)', 4, 4, () => call(world.keys.bulk, 'POST', '/api/v1/certificates/batch', { items: [{ profileId: world.profiles.web.id, commonName: `burst-${++n}.example.com` }] }));
    })(),
    // A CI pipeline issuing 140 certificates as fast as it can every ~70 s: past RATE_LIMIT_ISSUE (120/min).
    loop('CI burst of 140', 70000, async () => {
      await burst('CI burst of 140', 140, 12, () => call(world.keys.ci, 'POST', '/api/v1/certificates', { profileId: world.profiles.web.id, commonName: `ci-${++n}.example.com`, validityDays: 1 }));
    }, 30000),
    // An inventory poller that lists too eagerly: past RATE_LIMIT_GENERAL (300/min) every ~100 s.
    loop('poller burst of 320', 100000, async () => {
      await burst('poller burst of 320', 320, 8, () => call(world.keys.poller, 'GET', '/api/v1/certificates?pageSize=5'));
    }, 45000),
    // OCSP: relying parties asking about issued (some revoked) certificates, POST and GET; an unknown serial; a malformed request.
    loop('OCSP request', 200, async () => {
      const roll = Math.random();
      if (roll < 0.04) {
        const res = await fetch(`${gatewayUrl}/pki/ocsp/not-a-request`);
        await res.arrayBuffer();
        count('OCSP request', `malformed: ${res.status}`);
        return;
      }
      const ocsp = roll < 0.1 || !ocspRequests.length ? unknownOcsp : pick(ocspRequests);
      const res = Math.random() < 0.5
        ? await fetch(`${gatewayUrl}/pki/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: ocsp.der })
        : await fetch(`${gatewayUrl}/pki/ocsp/${encodeURIComponent(ocsp.der.toString('base64'))}`);
      await res.arrayBuffer();
      count('OCSP request', `${ocsp.kind}: ${res.status}`);
    }),
    // Devices enrolling over mTLS: mostly fine; a broken CSR, a CSR for another device's name, no client certificate, an untrusted one.
    loop('enroll', 4000, async () => {
      const roll = Math.random();
      const device = pick(world.devices);
      const csr = async (commonName: string) => (await acme.crypto.createCsr({ commonName }, enrollKey))[1].toString();
      try {
        if (roll < 0.7) count('enroll', `${await enroll(device, await csr(device.name))} ${device.name}`);
        else if (roll < 0.8) count('enroll', `${await enroll(device, 'not a CSR')} broken CSR`);
        else if (roll < 0.9) count('enroll', `${await enroll(device, await csr('someone-else'))} CN of another device`);
        else if (roll < 0.95) count('enroll', `${await enroll(null, await csr(device.name))} no client certificate`);
        else count('enroll', `${await enroll(world.stranger, await csr('laptop-7'))} untrusted client certificate`);
      } catch (e) {
        count('enroll', `handshake refused (${roll < 0.9 ? 'unexpected' : roll < 0.95 ? 'no client certificate' : 'untrusted client certificate'}): ${(e as { code?: string }).code ?? errorText(e)}`);
      }
    }, 5000),
    // ACME: an order every ~10 s with acme-client (http-01); one in five for a name whose responder answers wrongly.
    loop('ACME order', 10000, async () => {
      const broken = Math.random() < 0.2;
      const name = `${broken ? 'broken' : 'host'}-${++n}.acme.test`;
      const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, enrollKey);
      try {
        await pick(acmeClients).auto({
          csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], skipChallengeVerification: true,
          challengeCreateFn: async (_authz, challenge, keyAuthorization) => void http01?.answers.set(challenge.token, broken ? `${challenge.token}.wrong` : keyAuthorization),
          challengeRemoveFn: async (_authz, challenge) => void http01?.answers.delete(challenge.token),
        });
        count('ACME order', broken ? 'certificate (unexpected)' : 'certificate');
      } catch (e) {
        count('ACME order', broken ? 'refused as expected (wrong http-01 answer)' : `failed: ${errorText(e)}`);
      }
    }, 3000),
    // The incident: at 40 % of the run the legacy profile's allowed domain is withdrawn; the sweep's renewals of its certificates fail from then on.
    (async () => {
      await sleep(Math.max(0, at(0.4) - Date.now()));
      await ok(adminKey, 'PATCH', `/api/v1/profiles/${world.profiles.legacy.id}`, { allowedDomains: ['new.example.net'] });
      count('PATCH legacy profile (allowedDomains: new.example.net)', 200);
    })(),
    // Progress.
    loop('progress', 30000, async () => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      log(`  ${Math.round((Date.now() - started) / 1000)} s: ${[...tally.values()].reduce((s, m) => s + [...m.values()].reduce((a, b) => a + b, 0), 0)} actions, ${left} s left`);
    }),
  ];
  await Promise.all(tasks);
  await db.end();
}

// ------------------------------------------------------------------------------- Prometheus queries

interface Series { labels: Record<string, string>; points: [number, number][] }
interface Target { refId: string; expr: string; legendFormat?: string; format?: string; instant?: boolean }
interface Panel { id: number; type: string; title: string; description?: string; gridPos: { h: number; w: number; x: number; y: number }; fieldConfig?: { defaults?: { unit?: string } }; targets?: Target[] }
interface Dashboard { title: string; uid: string; panels: Panel[]; templating?: { list: { name: string }[] } }
interface TargetResult { target: Target; expr: string; series: Series[]; error?: string }
interface PanelResult { panel: Panel; results: TargetResult[]; hasData: boolean; notes: string[] }

/** Grafana's variables as a fixed run would have them: intervals a minute, template variables "all". */
function resolveVariables(expr: string, stepSeconds: number, variables: string[]): string {
  let out = expr.replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m').replace(/\$__interval|\$\{__interval\}/g, `${stepSeconds}s`).replace(/\$__range|\$\{__range\}/g, '1h');
  for (const v of variables) out = out.replace(new RegExp(`\\$\\{${v}(:[a-z]+)?\\}|\\$${v}\\b`, 'g'), '.*');
  return out;
}

async function promQuery(prom: string, path: string, params: Record<string, string>): Promise<any> {
  const res = await fetch(`${prom}${path}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as any;
  if (body.status !== 'success') throw new Error(`${path} ${params.query ?? params['match[]'] ?? ''}: ${body.errorType} ${body.error}`);
  return body.data;
}

const toSeries = (data: any): Series[] =>
  data.resultType === 'matrix'
    ? data.result.map((r: any) => ({ labels: r.metric, points: r.values.map(([t, v]: [number, string]) => [t, Number(v)]) }))
    : data.resultType === 'vector'
      ? data.result.map((r: any) => ({ labels: r.metric, points: [[r.value[0], Number(r.value[1])]] }))
      : [];

/** Families a query names (signet_*, with _bucket/_count/_sum kept as written) and its vector selectors. */
const selectorsOf = (expr: string) => [...new Set([...expr.matchAll(/\b([a-zA-Z_:][\w:]*)(\{[^}]*\})?(?=\s*[[)\s]|$)/g)].filter((m) => m[1].startsWith('signet_')).map((m) => `${m[1]}${m[2] ?? ''}`))];

async function runPanels(prom: string, dashboard: Dashboard, start: number, end: number, step: number): Promise<PanelResult[]> {
  const variables = (dashboard.templating?.list ?? []).map((v) => v.name);
  const results: PanelResult[] = [];
  for (const panel of dashboard.panels) {
    const targetResults: TargetResult[] = [];
    const notes: string[] = [];
    for (const target of panel.targets ?? []) {
      const expr = resolveVariables(target.expr, step, variables);
      try {
        const instant = panel.type === 'table' || target.instant === true || target.format === 'table';
        // Stat panels take the range and show its last value, as Grafana's default reducer does.
        const data = instant
          ? await promQuery(prom, '/api/v1/query', { query: expr, time: String(end) })
          : await promQuery(prom, '/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(step) });
        targetResults.push({ target, expr, series: toSeries(data) });
      } catch (e) {
        targetResults.push({ target, expr, series: [], error: errorText(e) });
        notes.push(`query ${target.refId} failed: ${errorText(e)}`);
      }
      // Why a target is empty: which of its selectors matched no series during the run.
      const result = targetResults[targetResults.length - 1];
      const finite = result.series.some((s) => s.points.some(([, v]) => Number.isFinite(v)));
      if (!finite && !result.error) {
        const empty: string[] = [];
        for (const selector of selectorsOf(expr)) {
          const found = await promQuery(prom, '/api/v1/series', { 'match[]': selector, start: String(start), end: String(end) });
          if (!found.length) empty.push(selector);
        }
        notes.push(empty.length
          ? `${target.refId}: no series matched ${empty.map((s) => `\`${s}\``).join(', ')} during the run`
          : `${target.refId}: every selector had series, but the expression gave no finite value (e.g. a quantile of a histogram that saw no observation in its window)`);
      }
      // A `by (job)` / `by (instance)` groups by the scrape target's label: the service's own is then exported_job / exported_instance.
      for (const by of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of by[1].split(',').map((l) => l.trim())) {
          if (label !== 'job' && label !== 'instance') continue;
          for (const selector of selectorsOf(expr)) {
            const found: Record<string, string>[] = await promQuery(prom, '/api/v1/series', { 'match[]': selector, start: String(start), end: String(end) });
            const exported = found.find((s) => s[`exported_${label}`] !== undefined);
            if (exported) {
              const values = [...new Set(found.map((s) => s[`exported_${label}`]).filter(Boolean))];
              const note = `\`by (${label})\` groups by Prometheus's target label \`${label}\` (here \`${exported[label]}\`): the service's own \`${label}\` label of \`${selector.replace(/\{.*/, '')}\` arrives as \`exported_${label}\` (${values.slice(0, 4).join(', ')}${values.length > 4 ? ', …' : ''}) under Prometheus's default honor_labels: false`;
              if (!notes.includes(note)) notes.push(note);
            }
          }
        }
      }
    }
    const hasData = targetResults.some((r) => r.series.some((s) => s.points.some(([, v]) => Number.isFinite(v))));
    results.push({ panel, results: targetResults, hasData, notes });
  }
  return results;
}

// --------------------------------------------------------------------------------------- SVG drawing

const THEME = { page: '#111217', panel: '#181b1f', border: '#2c3036', text: '#ccccdc', dim: '#8e8ea0', grid: '#2a2e35', header: '#22252b' };
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#705DA0', '#37872D', '#FADE2A', '#447EBC', '#C15C17',
  '#890F02', '#0A437C', '#6D1F62', '#584477', '#B7DBAB', '#F4D598', '#70DBED', '#F9BA8F', '#F29191', '#82B5D8', '#E5A8E2', '#AEA2E0'];
const FONT = "Inter, 'Helvetica Neue', Arial, sans-serif";
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const textWidth = (s: string, size: number) => s.length * size * 0.6;
const fit = (s: string, width: number, size: number) => {
  if (textWidth(s, size) <= width) return s;
  const chars = Math.max(1, Math.floor(width / (size * 0.6)) - 1);
  return `${s.slice(0, chars)}…`;
};

/** Up to 3 significant digits, no trailing zeros. */
const sig = (v: number) => {
  if (v === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
  return String(Number(v.toFixed(Math.min(digits, 6))));
};
function formatValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  switch (unit) {
    case 's':
      if (a === 0) return '0 s';
      if (a < 1) return `${sig(v * 1000)} ms`;
      if (a < 60) return `${sig(v)} s`;
      if (a < 3600) return `${sig(v / 60)} min`;
      if (a < 86400) return `${sig(v / 3600)} hour`;
      return `${sig(v / 86400)} day`;
    case 'ops':
      return `${sig(v)} ops/s`;
    case 'percentunit':
      return `${sig(v * 100)}%`;
    default:
      if (a >= 1e6) return `${sig(v / 1e6)} Mil`;
      if (a >= 1e3) return `${sig(v / 1e3)} K`;
      return sig(v);
  }
}

/** Round steps for an axis: for seconds, steps of clock units once the range passes a minute. */
function niceStep(range: number, count: number, unit: string): number {
  const raw = range / Math.max(1, count);
  if (unit === 's' && raw >= 30) {
    const steps = [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
    return steps.find((s) => s >= raw) ?? raw;
  }
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normal = raw / magnitude;
  return (normal <= 1 ? 1 : normal <= 2 ? 2 : normal <= 2.5 ? 2.5 : normal <= 5 ? 5 : 10) * magnitude;
}

const legendOf = (target: Target, labels: Record<string, string>) => {
  if (target.legendFormat) return target.legendFormat.replace(/\{\{\s*([\w]+)\s*\}\}/g, (_, l: string) => labels[l] ?? '').trim() || target.refId;
  const { __name__: name, ...rest } = labels;
  const inner = Object.entries(rest).map(([k, v]) => `${k}="${v}"`).join(', ');
  return `${name ?? ''}${inner ? `{${inner}}` : ''}` || target.refId;
};

const clock = (t: number) => new Date(t * 1000).toISOString().slice(11, 19);

function drawTimeseries(r: PanelResult, width: number, height: number, start: number, end: number, step: number): string {
  const unit = r.panel.fieldConfig?.defaults?.unit ?? 'short';
  const lines = r.results.flatMap((t) => t.series.map((s) => ({ name: legendOf(t.target, s.labels), points: s.points })))
    .filter((s) => s.points.some(([, v]) => Number.isFinite(v)));
  const out: string[] = [];
  if (!lines.length) {
    out.push(`<text x="${width / 2}" y="${height / 2 + 8}" text-anchor="middle" font-size="14" fill="${THEME.dim}">No data</text>`);
    return out.join('');
  }
  // Legend rows at the bottom (Grafana's list legend), at most ~40 % of the panel.
  const legendSize = 11;
  const items = lines.map((l, i) => ({ ...l, color: PALETTE[i % PALETTE.length], w: Math.min(width - 24, textWidth(l.name, legendSize) + 26) }));
  const rows: (typeof items)[] = [[]];
  let x = 0;
  for (const item of items) {
    if (x + item.w > width - 16 && rows[rows.length - 1].length) {
      rows.push([]);
      x = 0;
    }
    rows[rows.length - 1].push(item);
    x += item.w;
  }
  const maxRows = Math.max(1, Math.floor((height * 0.4) / 16));
  const shownRows = rows.slice(0, maxRows);
  const hidden = rows.slice(maxRows).reduce((s, row) => s + row.length, 0);
  const legendHeight = shownRows.length * 16 + 6;

  const values = lines.flatMap((l) => l.points.map(([, v]) => v).filter(Number.isFinite));
  let lo = Math.min(0, ...values);
  let hi = Math.max(...values);
  if (hi === lo) hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.1;
  const yStep = niceStep(hi - lo, 4, unit);
  lo = Math.floor(lo / yStep) * yStep;
  hi = Math.ceil(hi / yStep - 1e-9) * yStep;
  const yTicks: number[] = [];
  for (let v = lo; v <= hi + yStep * 1e-6; v += yStep) yTicks.push(Number(v.toPrecision(12)));
  const axisWidth = Math.max(...yTicks.map((v) => textWidth(formatValue(v, unit), 10))) + 10;
  const left = 8 + axisWidth;
  const right = width - 14;
  const top = 34;
  const bottom = height - 8 - legendHeight - 16;
  const X = (t: number) => left + ((t - start) / Math.max(1, end - start)) * (right - left);
  const Y = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);

  for (const v of yTicks) {
    out.push(`<line x1="${left}" x2="${right}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="${THEME.grid}" stroke-width="1"/>`);
    out.push(`<text x="${left - 6}" y="${(Y(v) + 3.5).toFixed(1)}" text-anchor="end" font-size="10" fill="${THEME.dim}">${esc(formatValue(v, unit))}</text>`);
  }
  const xSteps = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const xStep = xSteps.find((s) => (end - start) / s <= Math.max(3, Math.floor((right - left) / 90))) ?? 3600;
  for (let t = Math.ceil(start / xStep) * xStep; t <= end; t += xStep) {
    if (X(t) - left < 24 || right - X(t) < 20) continue;
    out.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${top}" y2="${bottom}" stroke="${THEME.grid}" stroke-width="1"/>`);
    out.push(`<text x="${X(t).toFixed(1)}" y="${bottom + 13}" text-anchor="middle" font-size="10" fill="${THEME.dim}">${clock(t).slice(0, xStep < 60 ? 8 : 5)}</text>`);
  }
  // One path per series, broken where a value is missing (no sample, NaN) for more than 2.5 steps; a lone point is a dot.
  for (const line of items) {
    const segments: [number, number][][] = [];
    let last: number | null = null;
    for (const [t, v] of line.points) {
      if (!Number.isFinite(v)) {
        last = null;
        continue;
      }
      if (last === null || t - last > step * 2.5) segments.push([]);
      segments[segments.length - 1].push([X(t), Y(v)]);
      last = t;
    }
    const d = segments.filter((s) => s.length > 1).map((s) => s.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('')).join('');
    if (d) out.push(`<path d="${d}" fill="none" stroke="${line.color}" stroke-width="1.6" stroke-linejoin="round"/>`);
    for (const [[px, py]] of segments.filter((s) => s.length === 1)) out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="2" fill="${line.color}"/>`);
  }
  out.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="${THEME.border}"/>`);
  shownRows.forEach((row, i) => {
    let lx = 10;
    const ly = height - 8 - legendHeight + 6 + i * 16 + 8;
    row.forEach((item, j) => {
      const last = i === shownRows.length - 1 && j === row.length - 1 && hidden > 0;
      out.push(`<rect x="${lx}" y="${ly - 4}" width="14" height="3" rx="1" fill="${item.color}"/>`);
      const label = fit(item.name, width - lx - 40, legendSize) + (last ? `  … +${hidden} more` : '');
      out.push(`<text x="${lx + 20}" y="${ly}" font-size="${legendSize}" fill="${THEME.text}">${esc(label)}</text>`);
      lx += item.w;
    });
  });
  return out.join('');
}

function drawTable(r: PanelResult, width: number, height: number): string {
  const unit = r.panel.fieldConfig?.defaults?.unit ?? 'short';
  const rowsIn = r.results.flatMap((t) => t.series);
  const out: string[] = [];
  if (!rowsIn.length) {
    out.push(`<text x="${width / 2}" y="${height / 2 + 8}" text-anchor="middle" font-size="14" fill="${THEME.dim}">No data</text>`);
    return out.join('');
  }
  const byOrder = [...(r.results[0]?.expr.match(/\bby\s*\(([^)]*)\)/)?.[1].split(',').map((l) => l.trim()) ?? [])];
  const labelNames = [...new Set([...byOrder, ...rowsIn.flatMap((s) => Object.keys(s.labels)).sort()])].filter((l) => rowsIn.some((s) => s.labels[l] !== undefined));
  const columns = ['Time', ...labelNames, 'Value'];
  const rows = rowsIn
    .map((s) => [clock(s.points[0][0]), ...labelNames.map((l) => s.labels[l] ?? ''), formatValue(s.points[0][1], unit)])
    .sort((a, b) => a.slice(1).join('\u0000').localeCompare(b.slice(1).join('\u0000')));
  const size = 11;
  const widths = columns.map((c, i) => Math.max(textWidth(c, size), ...rows.map((row) => textWidth(row[i], size))) + 16);
  const total = widths.reduce((a, b) => a + b, 0);
  const scale = Math.min(1, (width - 16) / total);
  const top = 34;
  const rowHeight = 22;
  const fits = Math.max(1, Math.floor((height - top - 8) / rowHeight) - 1);
  const shown = rows.length > fits ? rows.slice(0, fits - 1) : rows;
  let x = 8;
  out.push(`<rect x="8" y="${top}" width="${width - 16}" height="${rowHeight}" fill="${THEME.header}"/>`);
  columns.forEach((c, i) => {
    out.push(`<text x="${x + 8}" y="${top + 15}" font-size="${size}" font-weight="600" fill="${THEME.text}">${esc(fit(c, widths[i] * scale - 12, size))}</text>`);
    x += widths[i] * scale;
  });
  shown.forEach((row, j) => {
    const y = top + rowHeight * (j + 1);
    out.push(`<line x1="8" x2="${width - 8}" y1="${y}" y2="${y}" stroke="${THEME.grid}"/>`);
    let cx = 8;
    row.forEach((cell, i) => {
      out.push(`<text x="${cx + 8}" y="${y + 15}" font-size="${size}" fill="${i === row.length - 1 ? '#73BF69' : THEME.text}">${esc(fit(cell, widths[i] * scale - 12, size))}</text>`);
      cx += widths[i] * scale;
    });
  });
  if (shown.length < rows.length) {
    out.push(`<text x="16" y="${top + rowHeight * (shown.length + 1) + 15}" font-size="${size}" fill="${THEME.dim}">… ${rows.length - shown.length} more rows</text>`);
  }
  return out.join('');
}

/** A stat panel: the last value of each series, large (Grafana's default reducer is "last"). */
function drawStat(r: PanelResult, width: number, height: number): string {
  const unit = r.panel.fieldConfig?.defaults?.unit ?? 'short';
  const values = r.results.flatMap((t) => t.series.map((s) => ({ name: legendOf(t.target, s.labels), v: [...s.points].reverse().find(([, v]) => Number.isFinite(v))?.[1] })))
    .filter((x): x is { name: string; v: number } => x.v !== undefined);
  if (!values.length) return `<text x="${width / 2}" y="${height / 2 + 8}" text-anchor="middle" font-size="14" fill="${THEME.dim}">No data</text>`;
  const w = width / values.length;
  const size = Math.min(40, (height - 60) / 1.5);
  return values.map((x, i) => `<text x="${w * i + w / 2}" y="${height / 2 + size / 3}" text-anchor="middle" font-size="${size.toFixed(0)}" font-weight="600" fill="${PALETTE[0]}">${esc(formatValue(x.v, unit))}</text>`
    + (values.length > 1 ? `<text x="${w * i + w / 2}" y="${height / 2 + size / 3 + 18}" text-anchor="middle" font-size="11" fill="${THEME.dim}">${esc(fit(x.name, w - 8, 11))}</text>` : '')).join('');
}

/** One panel as an <svg> (standalone with `standalone`, else placed at x, y inside the overview). */
function drawPanel(r: PanelResult, width: number, height: number, start: number, end: number, step: number, at?: { x: number; y: number }): string {
  const body = r.panel.type === 'table' ? drawTable(r, width, height) : r.panel.type === 'timeseries' || r.panel.type === 'graph' ? drawTimeseries(r, width, height, start, end, step)
    : r.panel.type === 'stat' || r.panel.type === 'gauge' || r.panel.type === 'singlestat' ? drawStat(r, width, height)
    : `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="13" fill="${THEME.dim}">panel type ${esc(r.panel.type)} not drawn</text>`;
  const frame = `<rect x="0.5" y="0.5" width="${width - 1}" height="${height - 1}" rx="3" fill="${THEME.panel}" stroke="${THEME.border}"/>`
    + `<text x="10" y="21" font-size="13" font-weight="600" fill="${THEME.text}">${esc(fit(r.panel.title, width - 20, 13))}</text>`;
  const open = at
    ? `<svg x="${at.x.toFixed(1)}" y="${at.y.toFixed(1)}" width="${width.toFixed(1)}" height="${height.toFixed(1)}" viewBox="0 0 ${width.toFixed(1)} ${height.toFixed(1)}">`
    : `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`;
  return `${open}${frame}${body}</svg>`;
}

function drawOverview(dashboard: Dashboard, results: PanelResult[], start: number, end: number, step: number): string {
  const width = 1600;
  const pad = 8;
  const header = 52;
  const col = (width - pad) / 24;
  const cell = 30;
  const margin = 8;
  const bottomRow = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const height = header + bottomRow * (cell + margin) + pad;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="${THEME.page}"/>`,
    `<text x="${pad + 4}" y="30" font-size="20" font-weight="600" fill="${THEME.text}">${esc(dashboard.title)}</text>`,
    `<text x="${width - pad - 4}" y="30" text-anchor="end" font-size="12" fill="${THEME.dim}">${esc(`${new Date(start * 1000).toISOString().slice(0, 19).replace('T', ' ')} to ${clock(end)} UTC · step ${step} s · rendered from Prometheus without Grafana (deploy/observability/render)`)}</text>`];
  for (const r of results) {
    const g = r.panel.gridPos;
    const w = g.w * col - margin;
    const h = g.h * cell + (g.h - 1) * margin;
    out.push(drawPanel(r, w, h, start, end, step, { x: pad + g.x * col, y: header + g.y * (cell + margin) }));
  }
  out.push('</svg>');
  return out.join('\n');
}

const slug = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

// ------------------------------------------------------------------------------------ DASHBOARD.md

interface RunFacts {
  startedAt: Date; workloadFrom: number; workloadTo: number; start: number; end: number; step: number;
  commit: string; dirty: boolean; machine: string; prometheusVersion: string;
  cas: World['cas']; profiles: World['profiles'];
  alerts: { name: string; state: string; health: string; lastError: string }[];
}

function writeDoc(dashboard: Dashboard, results: PanelResult[], facts: RunFacts, images: Map<number, string>): string {
  const md: string[] = [];
  const rel = (file: string) => relative(OUT, file).split('\\').join('/');
  const minutes = ((facts.workloadTo - facts.workloadFrom) / 60).toFixed(1);
  md.push('# The Grafana dashboard, rendered from real data', '');
  md.push(`<!-- Generated by deploy/observability/render/render-dashboard.ts; run it again rather than editing by hand. -->`, '');
  md.push(`\`deploy/observability/signet-dashboard.json\` (${dashboard.panels.length} panels) as it looked after ${minutes} minutes of a mixed workload against the real`,
    'services, drawn without Grafana: every panel\'s PromQL ran against a real Prometheus that scraped the services, and the',
    'answers were drawn as SVG by `deploy/observability/render/render-dashboard.ts` (a line per series for time series panels,',
    'the rows for the table panel; Grafana\'s dark theme, classic palette, units and legend formats). It is a faithful picture of',
    'the data and of the queries, not a pixel copy of Grafana.', '');
  md.push(`![The Signet CA dashboard](${rel(join(OUT, 'img', 'dashboard.svg'))})`, '');
  md.push('## How it was rendered', '');
  md.push(`- When: ${facts.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC; the panels cover ${clock(facts.start)} to ${clock(facts.end)} UTC, query step ${facts.step} s.`);
  md.push(`- Code: commit \`${facts.commit.slice(0, 12)}\`${facts.dirty ? ' (the working tree also had uncommitted changes)' : ''}, built with \`npm run build\`.`);
  md.push(`- Machine: ${facts.machine}; ${facts.prometheusVersion} (Debian's \`prometheus\` package).`);
  md.push(`- Stack: the built signer, gateway (HTTP and HTTPS ports) and enroll server as processes on loopback, one replica each, with a database`,
    '  and Redis queue prefix of their own; Prometheus running the sample `deploy/observability/prometheus.yml` (its targets pointed at',
    '  them, intervals shortened): the gateway\'s `/metrics`, the signer\'s and the enroll server\'s health port `/metrics` every',
    `  ${SCRAPE_SECONDS} s (\`honor_labels: false\`, so the signer's \`job\` label is stored as \`exported_job\`), and \`deploy/observability/alerts.yml\`.`);
  md.push(`- Compressed time, so that minutes show what days would (everything else is the services' defaults):`,
    `  signer ${Object.entries(SIGNER_TUNING).map(([k, v]) => `\`${k}=${v}\``).join(', ')};`,
    `  gateway ${Object.entries(GATEWAY_TUNING).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`,
    '  OCSP responses and CRLs therefore live 15 min and are re-signed about every 3 min (the sawtooth in their panels; in production',
    '  the same curve spans days), and the three rate limits are low enough for the bursts below to pass them.', '');
  md.push('## The workload', '');
  md.push('One org with five API keys (web team, device fleet, CI pipeline, bulk import, inventory poller), a root CA with two issuing',
    'CAs (web, devices), a TLS CA for the enroll server and a bootstrap CA for devices; profiles `web` (example.com, 30 d),',
    '`short-lived` (3 d), `legacy` (legacy.example.net, 3 d) and `acme` (acme.test, no EAB); an enrollment policy trusting the',
    'bootstrap CA (`match-client-cn`); two webhooks (a receiver answering 500 to one delivery in ten, and a URL where nothing',
    'listens any more). Then, all at once until the end:', '');
  md.push('- issuance through the API under the `web` profile every ~1.5 s (one in ten for a name the profile refuses), device client',
    '  certificates without a profile every ~2.5 s (3 to 90 days: some expire within 7 days, no autoRenew);',
    '- `short-lived` certificates with `autoRenew` and `storeKey` (3 d, renewal threshold 2 d) every ~12 s, up to 30, and four under',
    '  `legacy`; every ~10 s two of them not yet due are *aged* in the run\'s own database (`valid_from` and `valid_to` moved back',
    '  until 30 h are left: time passing), so the renewal sweep (every 20 s) renews each once. At 40 % of the run `legacy`\'s allowed domain is withdrawn',
    '  (`PATCH` to new.example.net): aged legacy certificates then fail to renew on every pass (the runbook\'s "a profile that no',
    '  longer allows the request"). A manual `POST /renew` every ~20 s. Why aging rather than a validity shorter than the renewal',
    '  threshold: such a certificate\'s successor is due at once, and one sweep pass renews the chain again and again for its whole',
    '  50 s budget (a first run of this script did that: thousands of renewals a minute from six certificates);',
    '- a revocation every ~3 s (superseded, cessationOfOperation, affiliationChanged, keyCompromise, unspecified), each scheduling a CRL build;',
    '- a batch of 60 every ~80 s; four batch calls at once at 60 % of the run (limit 3 a minute); a CI pipeline issuing 140 as fast as it can',
    '  every ~70 s (limit 120 a minute); an inventory poller listing 320 times in a burst every ~100 s (limit 300 a minute);',
    '- OCSP requests (POST and GET), a few a second, for issued (some revoked) certificates, an unknown serial and the odd malformed one;',
    '- an mTLS enrollment every ~4 s on the enroll port: mostly good, some with a broken CSR, a CSR for another device\'s name, no client',
    '  certificate or one from an untrusted CA;',
    '- an ACME order every ~10 s with the `acme-client` library (three accounts, http-01 answered by a loopback responder), one in five for',
    '  a name whose responder answers wrongly.', '');
  md.push('What the workload saw (client side: HTTP statuses, or what happened):', '', '| action | outcomes |', '|---|---|');
  for (const [action, outcomes] of [...tally.entries()].filter(([a]) => a !== 'progress').sort()) {
    md.push(`| ${action} | ${[...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([o, c]) => `${esc(o)}: ${c}`).join('; ').replace(/\|/g, '\\|')} |`);
  }
  md.push('');
  md.push('The CA ids in the legends and the table:', '', '| ca_id | CA |', '|---|---|');
  for (const ca of Object.values(facts.cas)) md.push(`| \`${ca.id}\` | ${ca.name} |`);
  md.push('', `Profile ids: ${Object.entries(facts.profiles).map(([, p]) => `\`${p.id}\` = ${p.slug}`).join(', ')}.`, '');

  md.push('## Panels', '');
  md.push('| # | panel | data | |', '|---|---|---|---|');
  for (const r of results) {
    const series = r.results.reduce((s, t) => s + t.series.filter((x) => x.points.some(([, v]) => Number.isFinite(v))).length, 0);
    md.push(`| ${r.panel.id} | [${esc(r.panel.title)}](#panel-${r.panel.id}) | ${r.hasData ? `yes, ${series} series` : '**no data**'} | ${r.notes.some((n) => n.includes('exported_')) ? 'see the note on `job`' : ''} |`);
  }
  md.push('');
  for (const r of results) {
    md.push(`### <a id="panel-${r.panel.id}"></a>${r.panel.id}. ${r.panel.title}`, '');
    const image = images.get(r.panel.id);
    if (image) md.push(`![${esc(r.panel.title)}](${rel(image)})`, '');
    for (const t of r.results) {
      const finite = t.series.filter((s) => s.points.some(([, v]) => Number.isFinite(v)));
      md.push(`- ${t.target.refId}: \`${t.expr}\`${t.target.legendFormat ? ` (legend \`${t.target.legendFormat}\`)` : ''}: ${t.error ? `error: ${t.error}` : finite.length ? `${finite.length} series` : 'no data'}`);
    }
    for (const note of r.notes) md.push(`- Note: ${note}.`);
    const why = explanations.get(r.panel.id)?.(r);
    if (why) md.push(`- ${why}`);
    md.push('');
  }

  md.push('## The alert rules on the same data', '');
  md.push('Prometheus evaluated `deploy/observability/alerts.yml` every 2 s during the run. State at the end (rules with a `for:` of',
    '5 min to 1 h cannot fire within a run this short; pending means the condition held). The OCSP and CRL freshness alerts are',
    'pending by construction here: with the compressed 15 min validity every response and CRL is always within 24 h / 6 h of its',
    'nextUpdate.', '', '| alert | state | rule health |', '|---|---|---|');
  for (const a of facts.alerts) md.push(`| \`${a.name}\` | ${a.state} | ${a.health}${a.lastError ? `: ${esc(a.lastError)}` : ''} |`);
  md.push('');
  md.push('## Reproduce', '');
  md.push('PostgreSQL and Redis as for the tests (`DATABASE_URL`, `REDIS_URL`), `prometheus` (Debian: `apt-get install prometheus`) and',
    '`openssl` on PATH, then:', '', '```sh', 'npm run build',
    'node bench/run-ts.js deploy/observability/render/render-dashboard.ts            # --minutes 6 --out docs --keep-data', '```', '',
    'It starts everything on free loopback ports with a database and Redis prefix of its own, runs the workload, queries, writes',
    '`docs/img/dashboard*.svg` and this file, and removes what it made (see deploy/observability/render/README.md). The numbers differ',
    'from run to run; the shapes should not.', '');
  md.push('## In a real Grafana', '');
  md.push('Dashboards → New → Import → upload `deploy/observability/signet-dashboard.json` and pick your Prometheus data source for the',
    '`datasource` variable (or provision the file with a dashboard provider). Scrape the gateway\'s `PORT`, the signer\'s',
    '`SIGNER_HEALTH_PORT` and the enroll server\'s `ENROLL_HEALTH_PORT` at `/metrics` as `deploy/observability/prometheus.yml` does',
    '(`honor_labels: false`: the signer job panels group by `exported_job`; docs/OPERATIONS.md, "Scraping and metric labels").', '');
  return md.join('\n');
}

/** What a reader should know about a panel's picture beyond the query's own result (by panel id). */
const explanations = new Map<number, (r: PanelResult) => string>([
  [5, (r) => (r.hasData ? 'One line per signer job that ran in the 10 min window: failed (retried) jobs over all, 0 where none failed (every job name x outcome is exported at 0 from start-up); refusals do not count.'
    : 'Why empty: no signer job ran in the 10 min window (the ratio is only drawn for jobs that ran).')],
  [7, () => 'With the compressed validity above, responses are re-signed once they come within 12 min of nextUpdate: the sawtooth between 15 and 12 min. In production (4 d, refreshed within 2 d) the same shape spans days.'],
  [8, () => 'As for OCSP: CRLs valid 15 min, rebuilt by the sweep within 12 min of nextUpdate, and after revocations (CRL_REBUILD_DELAY_MS).'],
  [11, () => 'Certificates issued during the run: the device fleet\'s 3- and 5-day ones are within 7 d without autoRenew (what SignetCertificatesExpiringWithoutAutoRenew watches); 20- and 30-day ones within 30 d.'],
  [13, () => 'Renewed: the aged certificates, each once, by the sweep; failed: aged legacy certificates after the profile\'s allowed domain was withdrawn at 40 % of the run, again on every sweep pass (each failure is retried by the next).'],
  [17, () => '`order invalid` counts every order that became invalid: here the workload\'s names whose http-01 responder answers wrongly (they also show as `http-01 invalid`); a refused finalize or a deactivated authorization or account count too. Every status, and every challenge type x outcome, is exported at 0 from start-up.'],
  [16, () => 'Each class is exported at 0 from start-up, so its first burst is counted (rate() cannot count the sample that first shows a series).'],
]);

// --------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
  for (const tool of [[PROMETHEUS, '--version'], ['openssl', 'version']]) {
    try {
      execFileSync(tool[0], [tool[1]], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool[0]} is not on PATH`);
    }
  }
  const prometheusVersion = execFileSync(PROMETHEUS, ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/\s*\(.*$/, '');
  log(`rendering ${dashboard.panels.length} panels of ${relative(ROOT, DASHBOARD_FILE)} from a ${MINUTES} min run (work folder ${work})`);
  const stack = await startStack();
  const prom = await startPrometheus(stack);
  log(`signer, gateway (${gatewayUrl}) and Prometheus (${prom}) up`);
  const org = await ok(platformAdminKey, 'POST', '/api/v1/platform/orgs', { name: 'Render', slug: `render-${runId()}` });
  const world = await createWorld(org.adminKey, { id: org.org.id, slug: org.org.slug });
  await startEnroll(stack, world.cas.enrollServer.id);
  http01 = await startHttp01Responder(stack.http01Port);
  log('enroll up, org, keys, CAs, profiles and policy made; workload running');
  const workloadFrom = Date.now() / 1000;
  await workload(world, stack, org.adminKey, MINUTES * 60);
  const workloadTo = Date.now() / 1000;
  log('workload done; letting the last scrapes land');
  await sleep(SCRAPE_SECONDS * 6000);

  // The range: from Prometheus's first scrape (services up, before the org existed) to now.
  const end = Math.floor(Date.now() / 1000);
  const start = Math.floor(workloadFrom) - 30;
  const step = Math.max(SCRAPE_SECONDS, Math.round((end - start) / 300));
  const results = await runPanels(prom, dashboard, start, end, step);
  const rules = await promQuery(prom, '/api/v1/rules', {});
  const alerts = rules.groups.flatMap((g: any) => g.rules.filter((x: any) => x.type === 'alerting').map((x: any) => ({
    name: x.name, state: x.state, health: x.health, lastError: x.lastError ?? '',
  })));

  const imgDir = join(OUT, 'img');
  mkdirSync(imgDir, { recursive: true });
  for (const old of readdirSync(imgDir).filter((f) => /^dashboard(-.*)?\.svg$/.test(f))) unlinkSync(join(imgDir, old));
  const images = new Map<number, string>();
  for (const r of results) {
    const file = join(imgDir, `dashboard-${slug(r.panel.title)}.svg`);
    writeFileSync(file, `${drawPanel(r, 900, Math.round(r.panel.gridPos.h * 47.5), start, end, step)}\n`);
    images.set(r.panel.id, file);
  }
  writeFileSync(join(imgDir, 'dashboard.svg'), `${drawOverview(dashboard, results, start, end, step)}\n`);
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    /* not a git checkout */
  }
  const machine = `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
  const facts: RunFacts = { startedAt, workloadFrom, workloadTo, start, end, step, commit, dirty, machine, prometheusVersion, cas: world.cas, profiles: world.profiles, alerts };
  writeFileSync(join(OUT, 'DASHBOARD.md'), `${writeDoc(dashboard, results, facts, images)}\n`);

  log('');
  for (const r of results) log(`  ${String(r.panel.id).padStart(2)} ${r.hasData ? 'data   ' : 'NO DATA'} ${r.panel.title}${r.notes.length ? `\n       ${r.notes.join('\n       ')}` : ''}`);
  log('');
  for (const a of alerts) log(`  alert ${a.name}: ${a.state} (${a.health}${a.lastError ? `: ${a.lastError}` : ''})`);
  log(`\nwrote ${relative(ROOT, join(OUT, 'DASHBOARD.md'))}, ${relative(ROOT, join(imgDir, 'dashboard.svg'))} and ${images.size} panel images`);
}

process.once('SIGINT', () => {
  log('\ninterrupted: cleaning up');
  void cleanup().finally(() => process.exit(130));
});
main()
  .then(cleanup, async (error) => {
    process.stderr.write(`render-dashboard: ${(error as Error).stack ?? error}\n`);
    for (const s of services) process.stderr.write(`--- ${s.name} ---\n${s.service.output().slice(-3000)}\n`);
    await cleanup();
    process.exitCode = 1;
  })
  .then(() => process.exit());
