/**
 * Issue 18, "Faults and supervision": Redis and PostgreSQL restarted in the middle of 2,000 issuances,
 * revocations and enrollments.
 *
 * The stores are this test's own (libs/testing private-stores: a PostgreSQL initdb'd into a temporary
 * directory and a redis-server without persistence, on free ports), so stopping them harms nobody else.
 * The signer and the enroll server are the built processes; the gateway runs in this process, listening
 * on a port. A fixed mix of operations runs with bounded concurrency; Redis is killed and started again
 * (empty: every queued and in-flight job, cache entry and counter is gone) once, PostgreSQL is stopped
 * (immediate: as if it crashed) and started again once, each while requests are in flight.
 *
 * What must hold:
 * - every answer is 2xx, or 503 `service_unavailable` with `details.retryable: true` (429 only if a
 *   limit were hit; they are raised out of the way here); never a 500, never a network error, and no
 *   request takes longer than the signer deadline (30 s) plus a margin;
 * - every certificate acknowledged with 2xx is in the database, once (no duplicate serial, issuance key,
 *   or second certificate for one Idempotency-Key); every acknowledged revocation is revoked there;
 * - OCSP (the pre-signed responses, the JSON status, and /pki/ocsp read with openssl) and each CA's CRL
 *   (after the rebuild settles) agree with the database.
 * A job lost with Redis was never acknowledged: its producer answered 503 by its deadline. Keyed CSR
 * issuances answered 503 are retried with the same key once the stores are back, as a client would.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  PrivatePostgres, PrivateRedis, RunningService, freePort, spawnService, startPrivatePostgres, startPrivateRedis, stopService, waitForHttp,
} from '@signet/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { TEST_ADMIN_KEY, sleep, startGateway } from './support';

const OPERATIONS = 2000;
const CONCURRENCY = 12;
/** When the dispatcher has started this many operations, the store is restarted (not awaited: requests keep flowing). */
const REDIS_RESTART_AT = 550;
const POSTGRES_RESTART_AT = 1250;
const OUTAGE_MS = 2500;
/** The producers' deadline on a signer job (libs/service SIGNER_DEADLINE_MS) plus a margin. */
const MAX_REQUEST_MS = 30_000 + 10_000;
/** A client gives up on a request here (recorded as a hang), so the test ends even if one hangs forever. */
const CLIENT_TIMEOUT_MS = 60_000;
const CSR_POOL = 24;
const DEVICES = 8;

const dir = mkdtempSync(join(tmpdir(), 'signet-restarts-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
const newCsr = (name: string, cn: string): string => {
  const made = openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  if (!made.ok) throw new Error(made.out);
  return readFileSync(join(dir, `${name}.csr`), 'utf8');
};

type Kind = 'issue-csr' | 'issue-csr-retry' | 'issue-managed' | 'revoke' | 'enroll';
interface Outcome {
  kind: Kind;
  status: number;
  ms: number;
  code?: string;
  retryable?: unknown;
  /** A network error or client timeout instead of an HTTP answer. */
  failure?: string;
  /** Seconds since the test's clock started, and which phase (store states) it ended in. */
  at: number;
  start: number;
  phase: string;
}

describe('Redis and PostgreSQL restarted under 2,000 issuances, revocations and enrollments', () => {
  let pg: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  let gateway: NestFastifyApplication | undefined;
  let signer: RunningService | undefined;
  let enroll: RunningService | undefined;
  let db: Client | undefined;
  let base: string;
  let enrollPort: number;
  let adminKey: string;
  let issuingCaId: string;
  let deviceCaId: string;
  /** A CA with one revocation only, acknowledged just before Redis is killed: its scheduled CRL rebuild dies with Redis. */
  let quietCaId: string;
  let quietCertificateId: string;
  let serverCaPem: string;
  const csrs: string[] = [];
  const devices: { cn: string; cert: string; key: string; csr: string; agent: Agent }[] = [];
  const env: Record<string, string> = {};

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method, headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const text = await res.text();
    let json: Record<string, unknown> | null = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { raw: text };
    }
    return { status: res.status, body: json as Record<string, any> };
  };
  const ok = async (pending: ReturnType<typeof api>, status: number) => {
    const res = await pending;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  };

  /** When each keep-alive connection last finished an answer: how long a reused one had been idle. */
  const idleSince = new WeakMap<Socket, number>();
  /**
   * POST /v1/enroll on 8443 with the device's client certificate (keep-alive, one agent per device). A
   * network error says whether it came on a new connection or on a reused one, and how long that one had
   * been idle: a server dropping a request it read is a failure here, whichever it came on.
   */
  const enrollOnce = (device: (typeof devices)[number]) =>
    new Promise<{ status: number; body: Record<string, any> | null }>((resolve, reject) => {
      let idleMs: number | null = null;
      let socket: Socket | null = null;
      const req = httpsRequest({
        host: '127.0.0.1', port: enrollPort, method: 'POST', path: '/v1/enroll', agent: device.agent,
        headers: { 'Content-Type': 'application/pkcs10', Accept: 'application/json' }, timeout: CLIENT_TIMEOUT_MS,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          if (socket) idleSince.set(socket, Date.now());
          let body: Record<string, unknown> | null = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = { raw: text };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      });
      req.on('socket', (s) => {
        socket = s;
        // The agent leaves an idle connection's timeout (4 s, from the Keep-Alive hint) on it when it is
        // reused: the request's own deadline is set here, or answers slower than 4 s time out.
        s.setTimeout(CLIENT_TIMEOUT_MS);
        const since = idleSince.get(s);
        idleMs = since === undefined ? null : Date.now() - since;
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (error) => reject(new Error(`${error.message} (${req.reusedSocket ? `on a keep-alive connection idle ${idleMs} ms` : 'on a new connection'})`)));
      req.end(device.csr);
    });

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    Object.assign(env, { DATABASE_URL: pg.url, REDIS_URL: redis.url, QUEUE_PREFIX: `signet-restarts-${randomBytes(4).toString('hex')}`, LOG_LEVEL: 'warn' });
    const signerPort = await freePort();
    signer = spawnService('signer', {
      ...env, MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(signerPort),
      SIGNER_JOB_LOCK_MS: '5000', CRL_REBUILD_DELAY_MS: '1000', REVOCATION_SWEEP_INTERVAL_MS: '3000', ORG_ISSUE_CONCURRENCY: '32',
    });
    await waitForHttp(`http://127.0.0.1:${signerPort}/healthz`, signer, 30_000);
    gateway = await startGateway({
      DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL, QUEUE_PREFIX: env.QUEUE_PREFIX,
      RATE_LIMIT_GENERAL: '10000000', RATE_LIMIT_ISSUE: '10000000', RATE_LIMIT_BATCH: '10000000',
    });
    await gateway.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(gateway.getHttpServer().address() as { port: number }).port}`;

    const org = await fetch(`${base}/api/v1/platform/orgs`, {
      method: 'POST', headers: { Authorization: `Bearer ${TEST_ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Restarts org', slug: `restarts-${randomBytes(4).toString('hex')}` }),
    });
    expect(org.status).toBe(201);
    adminKey = ((await org.json()) as { adminKey: string }).adminKey;
    const ca = async (name: string, commonName: string) => (await ok(api('POST', '/api/v1/cas', { name, subject: { commonName }, keyAlgorithm: 'ECDSA-P256' }), 201)).ca;
    const [issuing, serverCa, bootstrap, deviceCa] = [
      await ca('Issuing', 'Restarts Issuing CA'), await ca('Enroll server', 'Restarts Enroll Server CA'),
      await ca('Bootstrap', 'Restarts Bootstrap CA'), await ca('Devices', 'Restarts Device CA'),
    ];
    issuingCaId = issuing.id;
    quietCaId = (await ca('Quiet', 'Restarts Quiet CA')).id;
    quietCertificateId = (await ok(api('POST', '/api/v1/certificates', { caId: quietCaId, commonName: 'quiet.restarts.test' }), 201)).certificate.id;
    deviceCaId = deviceCa.id;
    serverCaPem = serverCa.certificatePem;
    await ok(api('POST', '/api/v1/enrollment-policies', {
      name: 'Restart devices', trustedCaIds: [bootstrap.id], issuingCaId: deviceCaId, subjectRule: 'match-client-cn', allowedKeyAlgorithms: ['ECDSA-P256'],
    }), 201);
    for (let i = 0; i < CSR_POOL; i++) csrs.push(newCsr(`pool-${i}`, `op-${i}.restarts.test`));
    for (let i = 0; i < DEVICES; i++) {
      const cn = `device-${i}`;
      const issued = await ok(api('POST', '/api/v1/certificates', { caId: bootstrap.id, commonName: cn, usage: 'client' }), 201);
      const cert = issued.certificate.certificatePem as string;
      const key = issued.privateKey as string;
      // Keep-alive as a device would do it: the server may close a connection idle past the Keep-Alive:
      // timeout it announces (RFC 9112 9.3.1), and a request sent as it does is lost (`socket hang up`).
      // Node's agent stops reusing one a second before that timeout only if it has a timeout of its
      // own; without one it reused connections idle ~6 s, as enroll closed them.
      const agent = new Agent({ keepAlive: true, maxSockets: 4, timeout: CLIENT_TIMEOUT_MS, cert, key, ca: serverCaPem });
      devices.push({ cn, cert, key, csr: newCsr(`device-${i}-op`, cn), agent });
    }

    const healthPort = await freePort();
    enrollPort = await freePort();
    enroll = spawnService('enroll', {
      ...env, ENROLL_PORT: String(enrollPort), ENROLL_HEALTH_PORT: String(healthPort), ENROLL_TLS_CA_ID: serverCa.id,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '1000', ENROLL_RATE_LIMIT: '1000000',
    });
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, enroll, 30_000);
    for (let i = 0; i < 200; i++) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = connect(enrollPort, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      });
      if (open) break;
      await sleep(100);
    }
    // The trust store has the bootstrap CA once one enrollment goes through.
    let first = await enrollOnce(devices[0]).catch((error: Error) => ({ status: 0, body: { error: error.message } }));
    for (let i = 0; i < 50 && first.status !== 201; i++) {
      await sleep(200);
      first = await enrollOnce(devices[0]).catch((error: Error) => ({ status: 0, body: { error: error.message } }));
    }
    expect(first.status).toBe(201);
    db = new Client({ connectionString: pg.url });
  }, 120_000);

  afterAll(async () => {
    const steps: (() => Promise<unknown>)[] = [
      async () => devices.forEach((d) => d.agent.destroy()),
      async () => enroll && stopService(enroll, 5000),
      async () => signer && stopService(signer, 5000),
      async () => gateway?.close(),
      async () => db?.end(),
      async () => redis?.destroy(),
      async () => pg?.destroy(),
      async () => rmSync(dir, { recursive: true, force: true }),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  it('acknowledged work survives, nothing is duplicated, OCSP and CRL agree; the outage answers 503 retryable by the deadline', async () => {
    const t0 = Date.now();
    const outcomes: Outcome[] = [];
    /** Certificates acknowledged with 2xx: id -> serial, and how it was obtained. */
    const acknowledged = new Map<string, { serial: string; caId: string; kind: Kind }>();
    /** Idempotency-Key -> every certificate id a 201 under it named. */
    const byKey = new Map<string, Set<string>>();
    /** Keys acknowledged once: replayed later (must answer the same certificate). */
    const keyedBodies = new Map<string, { csrPem: string }>();
    /** Keyed requests answered 503: retried with the same key after the outages. */
    const unanswered: { key: string; csrPem: string }[] = [];
    const revocable: string[] = [];
    const revoked = new Set<string>();
    let phase = 'steady';
    let started = 0;

    const record = (kind: Kind, since: number, status: number, body: Record<string, any> | null, failure?: string) => {
      outcomes.push({
        kind, status, ms: Date.now() - since, start: since, code: body?.code, retryable: body?.details?.retryable, failure,
        at: Math.round((since - t0) / 100) / 10, phase,
      });
    };
    const acknowledge = (certificate: { id: string; serialNumber: string; caId: string }, kind: Kind) => {
      if (acknowledged.has(certificate.id)) return;
      acknowledged.set(certificate.id, { serial: certificate.serialNumber, caId: certificate.caId, kind });
      revocable.push(certificate.id);
    };

    const issueKeyed = async (kind: Kind, key: string, csrPem: string) => {
      const since = Date.now();
      try {
        const res = await api('POST', '/api/v1/certificates', { caId: issuingCaId, mode: 'csr', csrPem }, { 'Idempotency-Key': key });
        record(kind, since, res.status, res.body);
        if (res.status === 201) {
          acknowledge(res.body.certificate, kind);
          byKey.set(key, (byKey.get(key) ?? new Set()).add(res.body.certificate.id));
          keyedBodies.set(key, { csrPem });
        } else if (res.status === 503) unanswered.push({ key, csrPem });
      } catch (error) {
        record(kind, since, 0, null, (error as Error).message);
      }
    };
    const operations: Record<Exclude<Kind, 'issue-csr-retry'>, () => Promise<void>> = {
      'issue-csr': () => issueKeyed('issue-csr', randomUUID(), csrs[Math.floor(Math.random() * csrs.length)]),
      'issue-managed': async () => {
        const since = Date.now();
        try {
          const res = await api('POST', '/api/v1/certificates', { caId: issuingCaId, commonName: `managed-${randomBytes(4).toString('hex')}.restarts.test` });
          record('issue-managed', since, res.status, res.body);
          if (res.status === 201) acknowledge(res.body.certificate, 'issue-managed');
        } catch (error) {
          record('issue-managed', since, 0, null, (error as Error).message);
        }
      },
      revoke: async () => {
        const index = Math.floor(Math.random() * revocable.length);
        const id = revocable.splice(index, 1)[0];
        if (!id) return operations['issue-csr']();
        const since = Date.now();
        try {
          const res = await api('POST', `/api/v1/certificates/${id}/revoke`, { reason: Math.random() < 0.5 ? 'superseded' : 'cessationOfOperation' });
          record('revoke', since, res.status, res.body);
          if (res.status === 200) revoked.add(id);
          // Not acknowledged: it may have been revoked or not; the database decides, OCSP and CRL must follow it.
        } catch (error) {
          record('revoke', since, 0, null, (error as Error).message);
        }
      },
      enroll: async () => {
        const device = devices[Math.floor(Math.random() * devices.length)];
        const since = Date.now();
        try {
          const res = await enrollOnce(device);
          record('enroll', since, res.status, res.body);
          if (res.status === 201) acknowledge(res.body!.certificate, 'enroll');
        } catch (error) {
          record('enroll', since, 0, null, (error as Error).message);
        }
      },
    };
    /** The mix: 35% keyed CSR issuance, 8% replays of acknowledged keys, 15% managed, 20% revocations, 22% enrollments. */
    const pick = (): (() => Promise<void>) => {
      const r = Math.random();
      if (r < 0.35) return operations['issue-csr'];
      if (r < 0.43) {
        const keys = [...keyedBodies.keys()];
        if (!keys.length) return operations['issue-csr'];
        const key = keys[Math.floor(Math.random() * keys.length)];
        return () => issueKeyed('issue-csr-retry', key, keyedBodies.get(key)!.csrPem);
      }
      if (r < 0.58) return operations['issue-managed'];
      if (r < 0.78) return operations.revoke;
      return operations.enroll;
    };

    const restarts: Promise<void>[] = [];
    const log: string[] = [];
    const restart = (name: string, store: PrivateRedis | PrivatePostgres, before: () => Promise<void> = async () => undefined) => {
      restarts.push((async () => {
        await before();
        phase = `${name}-down`;
        log.push(`${name} killed at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        await store.restart({ kill: true, downMs: OUTAGE_MS });
        log.push(`${name} back at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        phase = `after-${name}`;
        storesBack++;
      })());
    };
    // The quiet CA's one revocation, acknowledged right before Redis dies: the rebuild it scheduled (due
    // within CRL_REBUILD_DELAY_MS) is lost, and no later revocation of that CA brings another. Its CRL
    // must list it all the same (the signers' revocation sweep finds CRLs older than a revocation).
    const revokeQuiet = async () => {
      await ok(api('POST', `/api/v1/certificates/${quietCertificateId}/revoke`, { reason: 'superseded' }), 200);
      revoked.add(quietCertificateId);
    };
    let storesBack = 0;
    const worker = async () => {
      while (started < OPERATIONS) {
        started++;
        if (started === REDIS_RESTART_AT) restart('redis', redis!, revokeQuiet);
        if (started === POSTGRES_RESTART_AT) restart('postgres', pg!);
        // A keyed request answered 503 is retried with its key once the store is back, as a client would.
        const retry = storesBack > 0 && !phase.endsWith('-down') ? unanswered.shift() : undefined;
        if (retry) await issueKeyed('issue-csr-retry', retry.key, retry.csrPem);
        else await pick()();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await Promise.all(restarts);
    const driven = Date.now();

    // What happened, for whoever reads the log.
    const tally: Record<string, Record<string, number>> = {};
    for (const o of outcomes) {
      const key = o.failure ? `error:${o.failure}` : `${o.status}${o.code ? ` ${o.code}` : ''}`;
      tally[o.kind] = tally[o.kind] ?? {};
      tally[o.kind][key] = (tally[o.kind][key] ?? 0) + 1;
    }
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    console.log(JSON.stringify({ operations: outcomes.length, tally, restarts: log, keyedStillUnanswered: unanswered.length, slowestMs: slowest, drivenSeconds: (driven - t0) / 1000 }, null, 1));

    // Every answer: 2xx or 503 retryable (429 only if rate limited); never a 500, a network error or a hang.
    const fine = (o: Outcome) => (o.status >= 200 && o.status < 300) || (o.status === 503 && o.code === 'service_unavailable' && o.retryable === true) || o.status === 429;
    // The enroll server included (it once answered 500 while PostgreSQL was away).
    const bad = outcomes.filter((o) => !fine(o));
    expect(bad.slice(0, 20)).toEqual([]);
    expect(outcomes.filter((o) => o.ms > MAX_REQUEST_MS)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(OPERATIONS);
    // The outages were felt (or the test proves nothing), and most of the work was done.
    expect(acknowledged.size).toBeGreaterThan(OPERATIONS / 2);

    await db!.connect();
    const q = async <T = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> => (await db!.query(sql, params)).rows as T[];
    const caIds = [issuingCaId, deviceCaId, quietCaId];

    // Every acknowledged certificate is in the database, with the serial it was acknowledged with.
    const rows = await q<{ id: string; serial_number: string; ca_id: string; status: string }>(
      'SELECT id::text, serial_number, ca_id::text, status FROM certificates WHERE ca_id = ANY($1::uuid[])', [caIds]);
    const rowById = new Map(rows.map((r) => [r.id, r]));
    const missing = [...acknowledged].filter(([id, a]) => rowById.get(id)?.serial_number !== a.serial).map(([id, a]) => ({ id, ...a }));
    expect(missing).toEqual([]);
    // Nothing twice: no serial or issuance key on two rows, one certificate per Idempotency-Key.
    expect(await q('SELECT serial_number, count(*)::int AS n FROM certificates GROUP BY serial_number HAVING count(*) > 1')).toEqual([]);
    expect(await q('SELECT issuance_key, count(*)::int AS n FROM certificates WHERE issuance_key IS NOT NULL GROUP BY issuance_key HAVING count(*) > 1')).toEqual([]);
    expect([...byKey].filter(([, ids]) => ids.size > 1)).toEqual([]);
    const keyedRows = await q<{ key: string; certificate_id: string; n: number }>(
      `SELECT r.key, r.certificate_id::text, (SELECT count(*)::int FROM certificates c WHERE c.id = r.certificate_id) AS n FROM idempotency_records r`);
    const recordOfKey = new Map(keyedRows.map((r) => [r.key, r]));
    expect([...byKey].filter(([key, ids]) => recordOfKey.get(key)?.certificate_id !== [...ids][0] || recordOfKey.get(key)?.n !== 1)).toEqual([]);
    // One issuance audit event per certificate.
    expect(await q(`SELECT resource_id, count(*)::int AS n FROM audit_events WHERE event_type = 'certificate.issue' AND outcome = 'success'
                     GROUP BY resource_id HAVING count(*) > 1`)).toEqual([]);

    // Every acknowledged revocation is revoked in the database.
    expect([...revoked].filter((id) => rowById.get(id)?.status !== 'revoked')).toEqual([]);
    const revokedInDb = rows.filter((r) => r.status === 'revoked');

    // OCSP: every certificate's pre-signed response says what its row says.
    const ocsp = await q<{ serial_number: string; status: string }>('SELECT serial_number, status FROM ocsp_responses WHERE ca_id = ANY($1::uuid[])', [caIds]);
    const ocspOf = new Map(ocsp.map((r) => [r.serial_number, r.status]));
    const expectedStatus = (r: { status: string }) => (r.status === 'revoked' ? 'revoked' : 'good');
    expect(rows.filter((r) => ocspOf.get(r.serial_number) !== expectedStatus(r)).map((r) => ({ ...r, ocsp: ocspOf.get(r.serial_number) ?? null }))).toEqual([]);
    // ... and so does the API, for every revoked one and a sample of good ones.
    const sample = [...revokedInDb, ...rows.filter((r) => r.status !== 'revoked').slice(0, 100)];
    const disagreeing: unknown[] = [];
    for (const r of sample) {
      const res = await ok(api('GET', `/api/v1/ocsp/status/${r.serial_number}`), 200);
      if (res.status !== expectedStatus(r)) disagreeing.push({ serial: r.serial_number, db: r.status, ocsp: res.status });
    }
    expect(disagreeing).toEqual([]);
    // ... and so does the signed answer relying parties get from /pki/ocsp, read by openssl, for a sample.
    const chainOf = new Map<string, string>();
    for (const caId of caIds) {
      const body = await ok(api('GET', `/api/v1/cas/${caId}`), 200);
      writeFileSync(join(dir, `${caId}.pem`), body.ca.certificatePem);
      chainOf.set(caId, `${caId}.pem`);
    }
    const signedSample = [...revokedInDb.slice(-15), ...revokedInDb.slice(0, 5), ...rows.filter((r) => r.status !== 'revoked').slice(-10)];
    for (const r of signedSample) {
      const cert = await ok(api('GET', `/api/v1/certificates/${r.id}`), 200);
      writeFileSync(join(dir, 'leaf.pem'), cert.certificate.certificatePem);
      const issuer = chainOf.get(r.ca_id)!;
      expect(openssl('ocsp', '-issuer', issuer, '-cert', 'leaf.pem', '-no_nonce', '-reqout', 'leaf.req').ok).toBe(true);
      const res = await fetch(`${base}/pki/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: readFileSync(join(dir, 'leaf.req')) });
      expect(res.status).toBe(200);
      writeFileSync(join(dir, 'leaf.resp'), Buffer.from(await res.arrayBuffer()));
      const read = openssl('ocsp', '-respin', 'leaf.resp', '-issuer', issuer, '-cert', 'leaf.pem', '-CAfile', issuer, '-no_nonce').out;
      expect({ serial: r.serial_number, status: /leaf\.pem: (\w+)/.exec(read)?.[1] }).toEqual({ serial: r.serial_number, status: expectedStatus(r) });
    }

    // Each CA's CRL lists exactly the revoked certificates of the database, once the rebuild settles.
    const crlSerials = async (caId: string): Promise<string[]> => {
      const res = await fetch(`${base}/api/v1/cas/${caId}/crl?format=der`, { headers: { Authorization: `Bearer ${adminKey}` } });
      if (res.status !== 200) return [`HTTP ${res.status}`];
      writeFileSync(join(dir, 'ca.crl'), Buffer.from(await res.arrayBuffer()));
      const text = openssl('crl', '-inform', 'DER', '-in', 'ca.crl', '-noout', '-text').out;
      return [...text.matchAll(/Serial Number: ([0-9A-F]+)/gi)].map((m) => m[1].toUpperCase().replace(/^0+(?=.)/, '')).sort();
    };
    const normal = (serial: string) => serial.toUpperCase().replace(/^0+(?=.)/, '');
    for (const caId of caIds) {
      const expected = revokedInDb.filter((r) => r.ca_id === caId).map((r) => normal(r.serial_number)).sort();
      const settleBy = Date.now() + 30_000;
      let listed = await crlSerials(caId);
      while (JSON.stringify(listed) !== JSON.stringify(expected) && Date.now() < settleBy) {
        await sleep(500);
        listed = await crlSerials(caId);
      }
      expect({ caId, missing: expected.filter((s) => !listed.includes(s)), extra: listed.filter((s) => !expected.includes(s)) })
        .toEqual({ caId, missing: [], extra: [] });
    }
    console.log(JSON.stringify({
      acknowledgedCertificates: acknowledged.size, rows: rows.length, acknowledgedRevocations: revoked.size, revokedInDb: revokedInDb.length,
      keysRetried: outcomes.filter((o) => o.kind === 'issue-csr-retry').length, seconds: (Date.now() - t0) / 1000,
    }));
  }, 240_000);
});
