/**
 * Observability (API.md section 12, issue 19): after a realistic run against the real stack (issue,
 * revoke, OCSP, a CRL build, a renewal, enroll over mTLS), every service's /metrics has the families of
 * section 12 with sensible values, and every metric the Grafana dashboard and the alert rules in
 * deploy/observability name is exported by some service. The built signer and enroll run as processes;
 * the gateway runs in this process.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createOrg, startGateway, uniqueSlug, until } from './support';

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
  let gateway: NestExpressApplication;
  let signer: RunningService;
  let enroll: RunningService;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;
  let base: string;
  let signerMetrics: string;
  let enrollMetrics: string;
  let enrollUrl: string;
  let adminKey: string;
  let caId: string;
  let profileId: string;

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
    gateway = await startGateway({ QUEUE_PREFIX, RATE_LIMIT_BATCH: '1' });
    await gateway.listen(0, '127.0.0.1');
    http = gateway.getHttpServer();
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    adminKey = (await createOrg(gateway, 'Observability org')).adminKey;
    const ca = async (body: object) => (await api().post('/api/v1/cas', body).expect(201)).body.ca;
    const root = await ca({ name: 'Obs root', subject: { commonName: 'Observability Root' } });
    caId = root.id;
    file('root.pem', root.certificatePem);
    profileId = (await api().post('/api/v1/profiles', { caId, name: 'Web', slug: uniqueSlug('web') }).expect(201)).body.profile.id;

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
  }, 90_000);
  afterAll(async () => {
    await gateway?.close();
    if (enroll) expect(await stopService(enroll)).toBe(0);
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('exports every family of section 12 with sensible values', async () => {
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
    // Not built yet: the families are there, with no samples.
    for (const name of ['signet_webhook_deliveries_total', 'signet_acme_orders_total', 'signet_acme_validations_total']) {
      expect(g.types.get(name)).toBe('counter');
      expect(find(g, name)).toEqual([]);
    }

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
});
