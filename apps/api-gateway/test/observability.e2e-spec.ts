/**
 * Observability (API.md section 12, issue 19): after a realistic run against the real stack (issue,
 * revoke, OCSP, a CRL build, a renewal, enroll over mTLS, ACME orders with acme-client, webhook
 * deliveries), every service's /metrics has the families of section 12 with sensible values, the bounded
 * label sets from start-up at 0, and every metric the Grafana dashboard and the alert rules in
 * deploy/observability name is exported by some service. A real Prometheus running the sample
 * deploy/observability/prometheus.yml scrapes the services throughout: every dashboard query answers on
 * what it stored, the signer job panels group by the signer's job (exported_job), and every alert rule
 * evaluates. The built signer and enroll run as processes; the gateway runs in this process.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SIGNER_JOBS } from '@signet/queue';
import {
  Http01Responder, RunningPrometheus, RunningService, TestDnsServer, freePort, spawnService, startDnsServer, startHttp01Responder, startPrometheus, stopService,
  testServiceEnv, waitForHttp,
} from '@signet/testing';
import * as acme from 'acme-client';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createOrg, startGateway, uniqueSlug, until } from './support';
import { WebhookReceiver, startWebhookReceiver } from './webhooks-receiver';

const QUEUE_PREFIX = `${process.env.QUEUE_PREFIX}-obs`;
const OBSERVABILITY = join(__dirname, '../../../deploy/observability');
const dir = mkdtempSync(join(tmpdir(), 'signet-obs-'));
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
};
/** openssl without blocking this process's event loop (the gateway it talks to runs here). */
const opensslAsync = (...args: string[]) =>
  new Promise<string>((resolve) => execFile('openssl', args, { cwd: dir, timeout: 20000 }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`)));
const file = (name: string, data: string | Buffer) => (writeFileSync(join(dir, name), data), name);

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { types: Map<string, string>; samples: Sample[] }

/** Prometheus text format: `# TYPE` lines name the families, the other lines are samples. */
function parseMetrics(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { types, samples };
}
/** The samples of `name` whose labels include `labels`. */
const find = (scrape: Scrape, name: string, labels: Record<string, string> = {}) =>
  scrape.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const total = (scrape: Scrape, name: string, labels: Record<string, string> = {}) => find(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);

describe('metrics of API.md section 12 after a realistic run, and the dashboard and alerts that use them', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let enroll: RunningService;
  let prometheus: RunningPrometheus;
  let dns: TestDnsServer;
  let http01: Http01Responder;
  let receiver: WebhookReceiver;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let base: string;
  let signerMetrics: string;
  let enrollMetrics: string;
  let enrollUrl: string;
  let adminKey: string;
  let orgSlug: string;
  let caId: string;
  let profileId: string;
  let acmeProfileSlug: string;

  const api = () => ({
    get: (path: string) => request(http).get(path).set(bearer(adminKey)),
    post: (path: string, body: object = {}) => request(http).post(path).set(bearer(adminKey)).send(body),
  });
  const issue = async (body: Record<string, unknown>) => (await api().post('/api/v1/certificates', { caId, ...body }).expect(201)).body;
  const scrape = async (url: string) => parseMetrics(await (await fetch(url)).text());
  const curl = (cert: string | null, path: string, args: string[] = []) =>
    run('curl', ['-sS', '--max-time', '15', '--cacert', 'server-ca.pem', ...(cert ? ['--cert', `${cert}.pem`, '--key', `${cert}.key`] : []), '-w', '\n%{http_code}', ...args, `${enrollUrl}${path}`]);

  beforeAll(async () => {
    const signerPort = await freePort();
    signer = spawnService('signer', {
      ...testServiceEnv(), QUEUE_PREFIX, MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(signerPort),
      CRL_REBUILD_DELAY_MS: '100', RENEWAL_SWEEP_INTERVAL_MS: '1000', METRICS_COLLECT_INTERVAL_MS: '200',
    });
    signerMetrics = `http://127.0.0.1:${signerPort}/metrics`;
    await waitForHttp(`http://127.0.0.1:${signerPort}/healthz`, signer);
    // ACME validation through a loopback DNS server (every acme.test name is 127.0.0.1) and http-01 responder.
    dns = await startDnsServer();
    dns.setDefaultA('127.0.0.1');
    http01 = await startHttp01Responder();
    receiver = await startWebhookReceiver();
    gateway = await startGateway({
      QUEUE_PREFIX, RATE_LIMIT_BATCH: '1',
      ACME_DNS_RESOLVER: dns.address, ACME_HTTP01_PORT: String(http01.port), ACME_TLSALPN01_PORT: String(await freePort()),
      ACME_VALIDATION_ATTEMPTS: '1', ACME_VALIDATION_TIMEOUT_MS: '5000',
      WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), WEBHOOK_DISPATCH_INTERVAL_MS: '100', WEBHOOK_RETRY_BASE_MS: '100',
    });
    await gateway.listen(0, '127.0.0.1');
    http = gateway.getHttpServer();
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const org = await createOrg(gateway, 'Observability org');
    adminKey = org.adminKey;
    orgSlug = org.org.slug;
    const ca = async (body: object) => (await api().post('/api/v1/cas', body).expect(201)).body.ca;
    const root = await ca({ name: 'Obs root', subject: { commonName: 'Observability Root' } });
    caId = root.id;
    file('root.pem', root.certificatePem);
    profileId = (await api().post('/api/v1/profiles', { caId, name: 'Web', slug: uniqueSlug('web') }).expect(201)).body.profile.id;
    acmeProfileSlug = uniqueSlug('acme');
    await api().post('/api/v1/profiles', { caId, name: 'ACME', slug: acmeProfileSlug, allowedDomains: ['acme.test'], acmeEabRequired: false }).expect(201);

    // The enroll server: its own TLS CA, a bootstrap CA whose devices a policy trusts, issuing from root.
    const serverCa = await ca({ name: 'Obs enroll server', subject: { commonName: 'Observability Enroll Server CA' } });
    file('server-ca.pem', serverCa.certificatePem);
    const bootstrap = await ca({ name: 'Obs bootstrap', subject: { commonName: 'Observability Bootstrap CA' } });
    await api().post('/api/v1/enrollment-policies', { name: 'Devices', trustedCaIds: [bootstrap.id], issuingCaId: caId, subjectRule: 'match-client-cn' }).expect(201);
    const device = (await api().post('/api/v1/certificates', { caId: bootstrap.id, commonName: 'sensor-1', usage: 'client' }).expect(201)).body;
    file('sensor-1.pem', device.certificate.certificatePem);
    file('sensor-1.key', device.privateKey);
    const healthPort = await freePort();
    const port = await freePort();
    enroll = spawnService('enroll', {
      ...testServiceEnv(), QUEUE_PREFIX, ENROLL_PORT: String(port), ENROLL_HEALTH_PORT: String(healthPort), ENROLL_TLS_CA_ID: serverCa.id,
      ENROLL_TLS_HOSTNAMES: 'localhost,127.0.0.1', ENROLL_TRUST_POLL_MS: '200',
    });
    enrollMetrics = `http://127.0.0.1:${healthPort}/metrics`;
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, enroll);
    enrollUrl = `https://127.0.0.1:${port}`;
    await until('the enroll port', async () => run('curl', ['-s', '-k', '--max-time', '1', enrollUrl]).status !== 7);

    // Prometheus with the sample configuration, scraping every second from before the run to its end.
    prometheus = await startPrometheus({
      dir: join(dir, 'prometheus'), intervalSeconds: 1,
      targets: { 'signet-gateway': base.replace('http://', ''), 'signet-signer': `127.0.0.1:${signerPort}`, 'signet-enroll': `127.0.0.1:${healthPort}` },
    });
    await until('Prometheus scraping the three services', () => prometheus.targetsUp(), 30000);
  }, 120_000);
  afterAll(async () => {
    await prometheus?.stop();
    await gateway?.close();
    await receiver?.close();
    await http01?.close();
    await dns?.close();
    if (enroll) expect(await stopService(enroll)).toBe(0);
    if (signer) expect(await stopService(signer)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports the bounded label sets at 0 from start-up, so rates and ratios over them are defined from the start', async () => {
    const s = await scrape(signerMetrics);
    const jobNames = Object.values(SIGNER_JOBS);
    for (const job of jobNames) {
      for (const outcome of ['completed', 'refused', 'failed']) expect({ job, outcome, samples: find(s, 'signet_signer_jobs_total', { job, outcome }).length }).toEqual({ job, outcome, samples: 1 });
      expect({ job, histogram: find(s, 'signet_signer_job_duration_seconds_count', { job }).length }).toEqual({ job, histogram: 1 });
    }
    // Nothing revokes a CA or fails in this run: their series are there, at 0.
    expect(find(s, 'signet_signer_jobs_total', { job: SIGNER_JOBS.revokeCa, outcome: 'completed' })[0].value).toBe(0);
    expect(total(s, 'signet_signer_jobs_total', { outcome: 'failed' })).toBe(0);
    expect(find(s, 'signet_renewals_total').map((x) => x.labels.outcome).sort()).toEqual(['failed', 'renewed']);
    expect(find(s, 'signet_metrics_collections_total', { outcome: 'failed' })).toHaveLength(1);

    const g = parseMetrics((await request(http).get('/metrics').expect(200)).text);
    /** The samples of `name` by their label values (the process's `app` label left out). */
    const zeros = (scraped: Scrape, name: string) =>
      Object.fromEntries(find(scraped, name).map((x) => [Object.entries(x.labels).filter(([k]) => k !== 'app').map(([, v]) => v).join(' '), x.value]));
    expect(zeros(g, 'signet_rate_limited_total')).toEqual({ general: 0, issue: 0, batch: 0 });
    expect(zeros(g, 'signet_ocsp_requests_total')).toEqual({ successful: 0, malformedRequest: 0, internalError: 0, tryLater: 0, sigRequired: 0, unauthorized: 0 });
    expect(zeros(g, 'signet_webhook_deliveries_total')).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(zeros(g, 'signet_acme_orders_total')).toEqual({ created: 0, valid: 0, invalid: 0 });
    expect(Object.keys(zeros(g, 'signet_acme_validations_total')).sort()).toEqual(
      ['dns-01', 'http-01', 'tls-alpn-01'].flatMap((type) => ['invalid', 'retried', 'valid'].map((outcome) => `${type} ${outcome}`)),
    );
    expect(total(g, 'signet_acme_validations_total')).toBe(0);

    const e = await scrape(enrollMetrics);
    expect(zeros(e, 'signet_enrollments_total')).toEqual(expect.objectContaining({ issued: 0, validation_failed: 0, forbidden: 0, rate_limited: 0, service_unavailable: 0 }));
    expect(Object.keys(zeros(e, 'signet_tls_handshake_failures_total')).sort()).toEqual(['no_certificate', 'timeout', 'tls_error', 'untrusted_issuer']);
  });

  it('exports every family of section 12 with sensible values', async () => {
    // A webhook on revocations whose receiver fails the first delivery (retried, then delivered).
    const hook = (await api().post('/api/v1/webhooks', { url: receiver.url('/revoked'), events: ['certificate.revoked'] }).expect(201)).body;
    receiver.secrets.set('/revoked', hook.secret);
    receiver.failFirst('/revoked', 1);
    // Issuance: under a profile, without one, one soon expiring without autoRenew, one the sweep renews.
    await issue({ profileId, commonName: 'web.example.com' });
    const leaf = (await issue({ commonName: 'leaf.example.com' })).certificate;
    await issue({ commonName: 'short.example.com', validityDays: 3 });
    const toRenew = (await issue({ commonName: 'renew.example.com', validityDays: 3, autoRenew: true, renewalThresholdDays: 10, storeKey: true })).certificate;
    // Due now: half its life gone (the sweep renews a certificate no longer than its threshold at half-life).
    const db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    await db.query(`UPDATE certificates SET valid_from = now() - interval '3 days', valid_to = now() + interval '1 day' WHERE id = $1`, [toRenew.id]);
    await db.end();
    // OCSP: a good answer, then the revocation, a malformed request; the revocation schedules a CRL build.
    file('leaf.pem', leaf.certificatePem);
    const ocsp = () => opensslAsync('ocsp', '-issuer', 'root.pem', '-cert', 'leaf.pem', '-url', `${base}/pki/ocsp`, '-CAfile', 'root.pem', '-no_nonce', '-timeout', '10');
    expect(await ocsp()).toMatch(/leaf\.pem: good/);
    await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' }).expect(200);
    expect(await ocsp()).toMatch(/leaf\.pem: revoked/);
    await request(http).get('/pki/ocsp/not-a-request').expect(200);
    // A second batch call within the window: 429 in the batch class.
    await api().post('/api/v1/certificates/batch', {});
    await api().post('/api/v1/certificates/batch', {}).expect(429);
    // Enroll: one enrollment, one refused in validation, one handshake without a client certificate.
    expect(run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'op.key', '-out', 'op.csr', '-subj', '/CN=sensor-1']).status).toBe(0);
    const enrolled = curl('sensor-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', '@op.csr']);
    expect(enrolled.stdout.split('\n').pop()).toBe('201');
    expect(curl('sensor-1', '/v1/enroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', 'not a csr']).stdout.split('\n').pop()).toBe('400');
    // (The readiness probe of beforeAll was such a handshake too.)
    const noCertificate = async () => total(await scrape(enrollMetrics), 'signet_tls_handshake_failures_total', { reason: 'no_certificate' });
    const refusedBefore = await noCertificate();
    expect(curl(null, '/v1/enroll', ['-X', 'POST']).status).not.toBe(0);

    // ACME with acme-client over http-01: one order valid; one invalid by a failed validation (the
    // responder answers wrongly); one invalid by the client deactivating its authorization.
    const client = new acme.Client({ directoryUrl: `${base}/acme/${orgSlug}/${acmeProfileSlug}/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const obtain = async (name: string, answer: (keyAuthorization: string) => string) => {
      const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
      return client.auto({
        csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => void http01.answers.set(challenge.token, answer(keyAuthorization)),
        challengeRemoveFn: async (_authz, challenge) => void http01.answers.delete(challenge.token),
      });
    };
    expect(await obtain('good.acme.test', (keyAuthorization) => keyAuthorization)).toContain('BEGIN CERTIFICATE');
    await expect(obtain('wrong.acme.test', (keyAuthorization) => `${keyAuthorization}.wrong`)).rejects.toThrow();
    const abandoned = await client.createOrder({ identifiers: [{ type: 'dns', value: 'abandoned.acme.test' }] });
    for (const authz of await client.getAuthorizations(abandoned)) await client.deactivateAuthorization(authz);
    expect((await client.getOrder(abandoned)).status).toBe('invalid');

    // The signer: counters as the run made them; gauges once the collector has seen the CRL and the renewal.
    const s = await until('the CRL build, the renewal and the collected gauges', async () => {
      const m = await scrape(signerMetrics);
      const ready = find(m, 'signet_crl_next_update_seconds', { ca_id: caId }).length > 0 && total(m, 'signet_renewals_total', { outcome: 'renewed' }) >= 1 &&
        find(m, 'signet_certificates_expiring', { ca_id: caId, within: '7d', auto_renew: 'false' }).length > 0 &&
        total(m, 'signet_certificates_issued_total', { ca_id: caId, source: 'enroll' }) >= 1;
      return ready && m;
    }, 30000);
    expect(s.types.get('signet_certificates_issued_total')).toBe('counter');
    expect(total(s, 'signet_certificates_issued_total', { ca_id: caId, profile_id: profileId, source: 'api' })).toBe(1);
    expect(total(s, 'signet_certificates_issued_total', { ca_id: caId, profile_id: 'none', source: 'api' })).toBe(3);
    expect(total(s, 'signet_certificates_issued_total', { ca_id: caId, source: 'renewal' })).toBeGreaterThanOrEqual(1);
    expect(total(s, 'signet_certificates_revoked_total', { ca_id: caId, reason: 'keyCompromise' })).toBe(1);
    // The gateway's issuances reach the signer coalesced (certificate.issueMany) or one by one.
    const issueJobs = ['certificate.issue', 'certificate.issueMany'].map((job) => total(s, 'signet_signer_jobs_total', { job, outcome: 'completed' }));
    expect(issueJobs[0] + issueJobs[1]).toBeGreaterThanOrEqual(1);
    expect(total(s, 'signet_signer_jobs_total', { job: 'certificate.revoke', outcome: 'completed' })).toBe(1);
    expect(total(s, 'signet_signer_jobs_total', { job: 'crl.build', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(total(s, 'signet_signer_jobs_total', { job: 'renewal.sweep', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(total(s, 'signet_signer_jobs_total', { outcome: 'completed' })).toBeGreaterThanOrEqual(5);
    expect(s.types.get('signet_signer_job_duration_seconds')).toBe('histogram');
    expect(total(s, 'signet_signer_job_duration_seconds_count')).toBe(total(s, 'signet_signer_jobs_total'));
    for (const state of ['waiting', 'active', 'delayed', 'failed']) {
      const [gauge] = find(s, 'signet_queue_jobs', { queue: 'signer', state });
      expect(gauge?.value).toBeGreaterThanOrEqual(0);
    }
    // Freshness: a response signed now is valid OCSP_VALIDITY_SECONDS (4 d); a CRL CRL_VALIDITY_SECONDS (1 d).
    const [ocspLeft] = find(s, 'signet_ocsp_responses_expiring_seconds', { ca_id: caId });
    expect(ocspLeft.value).toBeGreaterThan(3 * 86400);
    expect(ocspLeft.value).toBeLessThanOrEqual(4 * 86400);
    const [crlLeft] = find(s, 'signet_crl_next_update_seconds', { ca_id: caId });
    expect(crlLeft.value).toBeGreaterThan(86400 - 600);
    expect(crlLeft.value).toBeLessThanOrEqual(86400);
    expect(s.types.get('signet_crl_build_duration_seconds')).toBe('histogram');
    expect(total(s, 'signet_crl_build_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // short.example.com (3 days, no autoRenew); the renewed certificate is superseded and gone from the count.
    expect(total(s, 'signet_certificates_expiring', { ca_id: caId, within: '7d', auto_renew: 'false' })).toBe(1);
    expect(total(s, 'signet_certificates_expiring', { ca_id: caId, within: '30d', auto_renew: 'false' })).toBe(1);
    // Exported from zero (the sweep renews every org's due certificates in this shared database: no exact count).
    expect(find(s, 'signet_renewals_total', { outcome: 'failed' })).toHaveLength(1);
    expect(s.samples.some((x) => /serial/i.test(Object.keys(x.labels).join(',')))).toBe(false);

    // The gateway.
    const g = parseMetrics((await request(http).get('/metrics').expect(200)).text);
    expect(g.types.get('signet_issue_duration_seconds')).toBe('histogram');
    expect(total(g, 'signet_issue_duration_seconds_count')).toBe(5);
    expect(total(g, 'signet_rate_limited_total', { class: 'batch' })).toBe(1);
    expect(total(g, 'signet_ocsp_requests_total', { status: 'successful' })).toBe(2);
    expect(total(g, 'signet_ocsp_requests_total', { status: 'malformedRequest' })).toBe(1);
    expect(total(g, 'signet_acme_orders_total', { status: 'created' })).toBe(3);
    expect(total(g, 'signet_acme_orders_total', { status: 'valid' })).toBe(1);
    // The failed validation and the deactivated authorization: every order that became invalid.
    expect(total(g, 'signet_acme_orders_total', { status: 'invalid' })).toBe(2);
    expect(total(g, 'signet_acme_validations_total', { type: 'http-01', outcome: 'valid' })).toBe(1);
    expect(total(g, 'signet_acme_validations_total', { type: 'http-01', outcome: 'invalid' })).toBe(1);
    // The revocation's webhook: refused once (500), then delivered.
    const deliveries = await until('the webhook delivered after its retry', async () => {
      const m = parseMetrics((await request(http).get('/metrics').expect(200)).text);
      return total(m, 'signet_webhook_deliveries_total', { outcome: 'delivered' }) >= 1 && m;
    });
    expect(total(deliveries, 'signet_webhook_deliveries_total', { outcome: 'retried' })).toBe(1);
    expect(total(deliveries, 'signet_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(total(deliveries, 'signet_webhook_deliveries_total', { outcome: 'failed' })).toBe(0);
    expect(receiver.requests('/revoked').map((r) => [r.status, r.verified])).toEqual([[500, true], [200, true]]);

    // Enroll.
    const e = await scrape(enrollMetrics);
    expect(total(e, 'signet_enrollments_total', { outcome: 'issued' })).toBe(1);
    expect(total(e, 'signet_enrollments_total', { outcome: 'validation_failed' })).toBe(1);
    expect(total(e, 'signet_tls_handshake_failures_total', { reason: 'no_certificate' })).toBe(refusedBefore + 1);

    // Each service exports its own families of section 12.
    const section12 = {
      signer: [s, ['signet_certificates_issued_total', 'signet_certificates_revoked_total', 'signet_signer_jobs_total', 'signet_signer_job_duration_seconds', 'signet_queue_jobs',
        'signet_ocsp_responses_expiring_seconds', 'signet_crl_next_update_seconds', 'signet_crl_build_duration_seconds', 'signet_certificates_expiring', 'signet_renewals_total']],
      gateway: [g, ['signet_issue_duration_seconds', 'signet_rate_limited_total', 'signet_ocsp_requests_total', 'signet_webhook_deliveries_total', 'signet_acme_orders_total', 'signet_acme_validations_total']],
      enroll: [e, ['signet_enrollments_total', 'signet_tls_handshake_failures_total']],
    } as const;
    for (const [service, [scraped, families]] of Object.entries(section12)) {
      expect({ service, missing: families.filter((f) => !scraped.types.has(f)) }).toEqual({ service, missing: [] });
    }

    // Every metric the dashboard and the alert rules name is exported by some service.
    const exported = new Set([...s.types.keys(), ...g.types.keys(), ...e.types.keys()]);
    const familyOf = (name: string) => (exported.has(name) ? name : name.replace(/_(bucket|count|sum)$/, ''));
    for (const source of ['signet-dashboard.json', 'alerts.yml']) {
      const named = [...new Set(readFileSync(join(OBSERVABILITY, source), 'utf8').match(/\bsignet_[a-z0-9_]+/g) ?? [])];
      expect(named.length).toBeGreaterThan(5);
      expect({ source, unknown: named.filter((n) => !exported.has(familyOf(n))) }).toEqual({ source, unknown: [] });
    }
  }, 90_000);
  // After the run above: Prometheus has stored it as the sample configuration makes it store it.
  it('Prometheus with deploy/observability/prometheus.yml: every dashboard query answers, signer jobs group by the signer job, every alert rule evaluates', async () => {
    const jobNames: string[] = Object.values(SIGNER_JOBS);
    // Every service scraped after the run ended.
    const ended = Date.now() / 1000;
    await until('a scrape of every service after the run', async () => (await prometheus.query(`min(timestamp(up)) > ${ended}`)).length > 0);
    // Under honor_labels: false the scrape job keeps `job`; the signer's own label is `exported_job`.
    const stored = await prometheus.query('signet_signer_jobs_total{exported_job="certificate.revoke", outcome="completed"}');
    expect(stored.map((x) => [x.labels.job, x.labels.exported_job, x.value])).toEqual([['signet-signer', 'certificate.revoke', 1]]);

    const dashboard = JSON.parse(readFileSync(join(OBSERVABILITY, 'signet-dashboard.json'), 'utf8'));
    const targets: { panel: string; expr: string }[] = dashboard.panels.flatMap((p: { title: string; targets: { expr: string }[] }) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    const answers = new Map<string, { labels: Record<string, string>; value: number }[]>();
    for (const { panel, expr } of targets) {
      const samples = await prometheus.query(expr);
      answers.set(panel, [...(answers.get(panel) ?? []), ...samples]);
      // Every panel has a line after this run: no "No data".
      expect({ panel, expr, finite: samples.filter((x) => Number.isFinite(x.value)).length > 0 }).toEqual({ panel, expr, finite: true });
    }

    // Jobs by outcome: one line per signer job and outcome, none per scrape job.
    const byOutcome = answers.get('Signer jobs by outcome')!;
    expect(byOutcome.every((x) => jobNames.includes(x.labels.exported_job) && x.labels.job === undefined)).toBe(true);
    const ran = byOutcome.map((x) => `${x.labels.exported_job} ${x.labels.outcome}`);
    expect(ran).toEqual(expect.arrayContaining(['certificate.revoke completed', 'crl.build completed', 'renewal.sweep completed']));
    // The failure ratio: 0 (not "No data") for each signer job that ran, nothing having failed.
    const ratio = answers.get('Signer job failure ratio')!;
    expect(ratio.length).toBeGreaterThanOrEqual(4);
    expect(ratio.every((x) => jobNames.includes(x.labels.exported_job))).toBe(true);
    expect(Object.fromEntries(ratio.filter((x) => x.labels.exported_job === 'certificate.revoke').map((x) => [x.labels.exported_job, x.value]))).toEqual({ 'certificate.revoke': 0 });
    // Run time per signer job.
    expect(answers.get('Signer job duration p95')!.filter((x) => Number.isFinite(x.value)).map((x) => x.labels.exported_job)).toEqual(expect.arrayContaining(['certificate.revoke', 'crl.build']));
    // ACME orders as stored: the two invalid ones counted.
    const orders = await prometheus.query('sum by (status) (signet_acme_orders_total)');
    expect(Object.fromEntries(orders.map((x) => [x.labels.status, x.value]))).toEqual({ created: 3, valid: 1, invalid: 2 });

    // alerts.yml as loaded by this Prometheus: every rule evaluated without error.
    const rules = await until('every alert rule evaluated', async () => {
      const data = await prometheus.api('/api/v1/rules');
      const all: { name: string; health: string; lastError?: string }[] = data.groups.flatMap((group: { rules: unknown[] }) => group.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') && all;
    });
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    expect(rules.length).toBeGreaterThanOrEqual(9);
  }, 60_000);
});
