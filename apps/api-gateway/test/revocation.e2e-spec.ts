/**
 * Revocation that relying parties can use, judged by openssl: OCSP (POST and GET) from the gateway's
 * /pki endpoints with responses pre-signed by a real signer process, CRLs rebuilt after revocations,
 * and the sweeps (OCSP refresh, automatic renewal).
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { REDIS } from '@signet/service';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { Queue } from 'bullmq';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../src/app/gateway-config.token';
import { PkiStore } from '../src/app/pki/pki-store';
import { bearer, createKey, createOrg, sleep, startGateway, until } from './support';

const dir = mkdtempSync(join(tmpdir(), 'signet-revocation-'));
const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
/** openssl talking to the gateway in this very process: it must not block the event loop (spawnSync would). */
const opensslAsync = (...args: string[]): Promise<string> =>
  new Promise((resolve) => {
    const child = spawn('openssl', args, { cwd: dir });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', () => resolve(out));
  });
const file = (name: string, data: string | Buffer) => {
  writeFileSync(join(dir, name), data);
  return name;
};
const CRL_REBUILD_DELAY_MS = 1000;
/** This suite's own queue prefix: its sweep intervals must not meet another suite's signers. */
const QUEUE_PREFIX = `${process.env.QUEUE_PREFIX}-rev`;

describe('revocation: OCSP and CRLs served by the gateway, signed by the signer', () => {
  let gateway: NestFastifyApplication;
  let signers: RunningService[] = [];
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let base: string;
  let adminKey: string;
  let rootId: string;
  let issuingId: string;
  let db: Client;
  const masterKey = randomBytes(32).toString('base64');

  const startSigner = async () => {
    const port = await freePort();
    const signer = spawnService('signer', {
      ...testServiceEnv(),
      QUEUE_PREFIX,
      MASTER_KEY: masterKey,
      SIGNER_HEALTH_PORT: String(port),
      CRL_REBUILD_DELAY_MS: String(CRL_REBUILD_DELAY_MS),
      // Responses are due for refresh a second after they are signed, and the sweeps run every second.
      OCSP_VALIDITY_SECONDS: '600',
      OCSP_REFRESH_MARGIN_SECONDS: '599',
      REVOCATION_SWEEP_INTERVAL_MS: '1000',
      RENEWAL_SWEEP_INTERVAL_MS: '1000',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
    signers.push(signer);
    return signer;
  };
  const api = () => ({
    get: (path: string) => request(http).get(path).set(bearer(adminKey)),
    post: (path: string, body: object = {}) => request(http).post(path).set(bearer(adminKey)).send(body),
    patch: (path: string, body: object = {}) => request(http).patch(path).set(bearer(adminKey)).send(body),
  });
  const issue = async (body: Record<string, unknown>) => (await api().post('/api/v1/certificates', { caId: issuingId, ...body }).expect(201)).body;
  /**
   * Due for renewal now: 12 hours left of a 20-day life (the sweep renews within renewalThresholdDays but
   * never earlier than half the lifetime, so a freshly issued short certificate is not due).
   */
  const makeDue = (id: string) => db.query(`UPDATE certificates SET valid_from = now() - interval '20 days', valid_to = now() + interval '12 hours' WHERE id = $1`, [id]);
  const crlInfo = async (caId: string) => (await api().get(`/api/v1/cas/${caId}/crl?format=info`)).body;
  const ocspCheck = (issuer: string, cert: string, extra: string[] = []) =>
    opensslAsync('ocsp', '-issuer', issuer, '-cert', cert, '-url', `${base}/pki/ocsp`, '-CAfile', 'root.pem', '-no_nonce', '-timeout', '10', ...extra);

  beforeAll(async () => {
    await startSigner();
    gateway = await startGateway({ QUEUE_PREFIX, RATE_LIMIT_GENERAL: '100000', RATE_LIMIT_ISSUE: '100000' });
    await gateway.listen(0, '127.0.0.1');
    http = gateway.getHttpServer();
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    adminKey = (await createOrg(gateway, 'Revocation org')).adminKey;
    rootId = (await api().post('/api/v1/cas', { name: 'Root', subject: { commonName: 'Revocation Root' } }).expect(201)).body.ca.id;
    const issuing = (await api().post('/api/v1/cas', { name: 'Issuing', subject: { commonName: 'Revocation Issuing' }, parentCaId: rootId }).expect(201)).body.ca;
    issuingId = issuing.id;
    const chain = (await api().get(`/api/v1/cas/${issuingId}/chain`).expect(200)).body.chain;
    file('issuing.pem', chain[0]);
    file('root.pem', chain[1]);
  });
  afterAll(async () => {
    await gateway?.close();
    await db?.end();
    for (const signer of signers) expect(await stopService(signer)).toBe(0);
  });

  it('answers good, then revoked with its reason right after the revoke call, in every gateway process that kept the good answer (openssl ocsp over POST)', async () => {
    const leaf = (await issue({ commonName: 'ocsp.example.test' })).certificate;
    file('leaf.pem', leaf.certificatePem);
    // A second gateway process's store (its own subscription and kept answers), on this gateway's connections.
    const other = new PkiStore(gateway.get(DataSource), gateway.get(REDIS), gateway.get(GATEWAY_CONFIG));
    try {
      await other.onModuleInit();
      await until('both stores listening', async () => other.ocspCacheUsage().listening && gateway.get(PkiStore).ocspCacheUsage().listening);
      // Asked until each process keeps the good answer (the first ask fills Redis from PostgreSQL, the next keeps it).
      for (let i = 0; i < 3; i++) {
        const before = await ocspCheck('issuing.pem', 'leaf.pem', ['-reqout', 'leaf.req', '-respout', 'good.resp']);
        expect(before).toContain('Response verify OK');
        expect(before).toContain('leaf.pem: good');
        expect((await other.ocsp(readFileSync(join(dir, 'leaf.req')))).body.equals(readFileSync(join(dir, 'good.resp')))).toBe(true);
      }
      // The same request three times: parsed once, remembered by its bytes.
      expect((other as unknown as { postRequests: Map<string, unknown> }).postRequests.size).toBe(1);
      const goodDer = readFileSync(join(dir, 'good.resp'));
      const otherKept = (other as unknown as { ocspMemo: Map<string, { trustedUntil: number }> }).ocspMemo.get(leaf.serialNumber);
      expect(otherKept?.trustedUntil).toBeGreaterThan(Date.now());

      await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' }).expect(200);
      const after = await ocspCheck('issuing.pem', 'leaf.pem');
      expect(after).toContain('Response verify OK');
      expect(after).toMatch(/leaf\.pem: revoked[\s\S]*Reason: keyCompromise/);
      // The other process too, at once: the revocation waited for its acknowledgement.
      const fromOther = (await other.ocsp(readFileSync(join(dir, 'leaf.req')))).body;
      expect(fromOther.equals(goodDer)).toBe(false);
      file('other.resp', fromOther);
      const read = await opensslAsync('ocsp', '-respin', 'other.resp', '-issuer', 'issuing.pem', '-cert', 'leaf.pem', '-CAfile', 'root.pem', '-no_nonce');
      expect(read).toMatch(/leaf\.pem: revoked[\s\S]*Reason: keyCompromise/);
    } finally {
      await other.onApplicationShutdown();
    }

    const status = (await api().get(`/api/v1/ocsp/status/${leaf.serialNumber}`).expect(200)).body;
    expect(status).toMatchObject({ serialNumber: leaf.serialNumber, caId: issuingId, status: 'revoked', revocationReason: 'keyCompromise', revokedAt: expect.any(String) });
    expect((await api().get('/api/v1/ocsp/status/00FF00FF00FF').expect(200)).body.status).toBe('unknown');
  });

  it('serves the GET form with RFC 5019 caching headers, and refuses garbage with malformedRequest', async () => {
    const leaf = (await issue({ commonName: 'get.example.test' })).certificate;
    file('get.pem', leaf.certificatePem);
    expect(openssl('ocsp', '-issuer', 'issuing.pem', '-cert', 'get.pem', '-no_nonce', '-reqout', 'get.req').ok).toBe(true);
    const path = `/pki/ocsp/${encodeURIComponent(readFileSync(join(dir, 'get.req')).toString('base64'))}`;
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    expect(res.headers.get('cache-control')).toMatch(/^max-age=\d+, public, no-transform, must-revalidate$/);
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(res.headers.get('expires')).toBeTruthy();
    const etag = res.headers.get('etag')!;
    file('get.resp', Buffer.from(await res.arrayBuffer()));
    const judged = openssl('ocsp', '-respin', 'get.resp', '-issuer', 'issuing.pem', '-cert', 'get.pem', '-CAfile', 'root.pem', '-no_nonce').out;
    expect(judged).toContain('Response verify OK');
    expect(judged).toContain('get.pem: good');
    // This suite's sweep re-signs responses every second (OCSP_REFRESH_MARGIN_SECONDS): a 200 to the
    // conditional GET is right only when a refresh came between, with a new ETag, which then gives 304.
    const conditional = (tag: string) => fetch(`${base}${path}`, { headers: { 'If-None-Match': tag } });
    let tag = etag;
    let answer = await conditional(tag);
    for (let tries = 0; answer.status === 200 && tries < 5; tries++) {
      const refreshed = answer.headers.get('etag')!;
      expect(refreshed).not.toBe(tag);
      tag = refreshed;
      answer = await conditional(tag);
    }
    expect(answer.status).toBe(304);

    const malformed = async (response: Response) => {
      expect(response.status).toBe(200);
      file('bad.resp', Buffer.from(await response.arrayBuffer()));
      return openssl('ocsp', '-respin', 'bad.resp', '-resp_text', '-noverify').out;
    };
    expect(await malformed(await fetch(`${base}/pki/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: randomBytes(200) }))).toMatch(/malformedrequest/i);
    expect(await malformed(await fetch(`${base}/pki/ocsp/not!!base64`))).toMatch(/malformedrequest/i);
    expect(await malformed(await fetch(`${base}/pki/ocsp`, { method: 'POST', body: Buffer.alloc(100_000, 0x30) }))).toMatch(/malformedrequest/i);

    // A serial this platform never issued, asked of one of its CAs: unauthorized.
    expect(openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'stranger.key', '-out', 'stranger.pem', '-subj', '/CN=stranger', '-days', '1').ok).toBe(true);
    expect(await ocspCheck('issuing.pem', 'stranger.pem')).toMatch(/unauthorized/i);
  });

  it('answers /pki ahead of the framework: garbage never a 500, HEAD, 304, X-Request-Id, metrics, internalError when the lookup fails', async () => {
    const leaf = (await issue({ commonName: 'fast.example.test' })).certificate;
    file('fast.pem', leaf.certificatePem);
    expect(openssl('ocsp', '-issuer', 'issuing.pem', '-cert', 'fast.pem', '-no_nonce', '-reqout', 'fast.req').ok).toBe(true);
    const der = readFileSync(join(dir, 'fast.req'));
    const getPath = `/pki/ocsp/${encodeURIComponent(der.toString('base64'))}`;
    const judge = async (response: Response, name: string) => {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/ocsp-response');
      file(name, Buffer.from(await response.arrayBuffer()));
      return openssl('ocsp', '-respin', name, '-issuer', 'issuing.pem', '-cert', 'fast.pem', '-CAfile', 'root.pem', '-no_nonce', '-resp_text').out;
    };
    const errorAnswer = async (response: Response) => {
      expect(response.headers.get('cache-control')).toBe('no-store');
      return judge(response, 'fast-error.resp');
    };
    const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
      fetch(`${base}/pki/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request', ...headers }, body });

    // Good answers, over a query string, with the caller's request id echoed.
    const ok = await post(der, { 'X-Request-Id': 'fast-path-1' });
    expect(ok.headers.get('x-request-id')).toBe('fast-path-1');
    const okLength = Number(ok.headers.get('content-length'));
    const okJudged = await judge(ok, 'fast.resp');
    expect(okJudged).toContain('Response verify OK');
    expect(okJudged).toContain('fast.pem: good');
    expect(readFileSync(join(dir, 'fast.resp')).length).toBe(okLength);
    expect(await judge(await fetch(`${base}/pki/ocsp?via=query`, { method: 'POST', body: der }), 'fast-q.resp')).toContain('fast.pem: good');
    expect((await fetch(`${base}${getPath}`)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    // Garbage: empty, oversized (sent in many chunks), not base64, not URL-encoding, a request for no certificate.
    expect(await errorAnswer(await post(Buffer.alloc(0)))).toMatch(/malformedrequest/i);
    expect(await errorAnswer(await post(Buffer.alloc(2 * 1024 * 1024, 0x30)))).toMatch(/malformedrequest/i);
    expect(await errorAnswer(await post(Buffer.concat([der, Buffer.alloc(4096)])))).toMatch(/malformedrequest/i);
    expect(await errorAnswer(await fetch(`${base}/pki/ocsp/%E0%A4%A`))).toMatch(/malformedrequest/i);
    expect(await errorAnswer(await fetch(`${base}/pki/ocsp/${'A'.repeat(8000)}`))).toMatch(/malformedrequest/i);
    expect(await errorAnswer(await fetch(`${base}/pki/ocsp/MAA%3D`))).toMatch(/malformedrequest/i);
    // Methods the endpoints do not answer go on to Express: a 404 in the API's error shape, never a 500.
    for (const [method, path] of [['PUT', '/pki/ocsp'], ['GET', '/pki/ocsp'], ['DELETE', getPath], ['POST', `/pki/cas/${issuingId}/crl`], ['GET', '/pki/nothing']]) {
      const res = await fetch(`${base}${path}`, { method });
      expect([method, path, res.status]).toEqual([method, path, 404]);
      expect(((await res.json()) as { code: string }).code).toBe('not_found');
    }

    // HEAD: the GET's headers, no body. 304 for a matching If-None-Match (GET only; POST is not cacheable).
    // This suite's sweep re-signs every response each second (OCSP_REFRESH_MARGIN_SECONDS), so the ETag
    // may move between two requests: a round counts when all three saw the same response; a few rounds at most.
    let etag = '';
    for (let round = 0; round < 5 && !etag; round++) {
      const get = await fetch(`${base}${getPath}`);
      await get.arrayBuffer();
      const head = await fetch(`${base}${getPath}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect((await head.arrayBuffer()).byteLength).toBe(0);
      const notModified = await fetch(`${base}${getPath}`, { headers: { 'If-None-Match': get.headers.get('etag')! } });
      await notModified.arrayBuffer();
      if (head.headers.get('etag') !== get.headers.get('etag') || notModified.status === 200) continue;
      expect(notModified.status).toBe(304);
      expect(notModified.headers.get('etag')).toBe(get.headers.get('etag'));
      expect(notModified.headers.get('cache-control')).toMatch(/^max-age=\d+, public/);
      etag = get.headers.get('etag')!;
    }
    expect(etag).toMatch(/^".+"$/);
    expect((await fetch(`${base}${getPath}`, { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
    expect((await post(der, { 'If-None-Match': etag })).status).toBe(200);

    // The lookup failing (Redis and PostgreSQL both) is an internalError answer, not a dropped request.
    const store = gateway.get(PkiStore);
    const spy = jest.spyOn(store as unknown as { ocspEntry: () => Promise<unknown> }, 'ocspEntry').mockRejectedValueOnce(new Error('store down'));
    try {
      expect(await errorAnswer(await post(der))).toMatch(/internalerror/i);
    } finally {
      spy.mockRestore();
    }

    // Counted in the shared request metrics under the route patterns.
    const metrics = (await request(http).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/signet_http_requests_total\{[^}]*method="POST",route="\/pki\/ocsp",status="200"[^}]*\} \d+/);
    expect(metrics).toMatch(/signet_http_requests_total\{[^}]*method="GET",route="\/pki\/ocsp\/:request",status="304"[^}]*\} \d+/);
  });

  it('publishes CRLs at the distribution point; a revoked leaf fails openssl verify -crl_check once rebuilt; the number grows', async () => {
    const first = await until('the first CRL', async () => (await api().get(`/api/v1/cas/${issuingId}/crl?format=info`)).status === 200 && crlInfo(issuingId));
    const leaf = (await issue({ commonName: 'crl.example.test' })).certificate;
    file('crl-leaf.pem', leaf.certificatePem);
    await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'superseded' }).expect(200);
    // Rebuilt with this leaf on it: earlier tests' revocations and the sweep's refreshes also raise the
    // number and the count, so wait for the serial itself, in the CRL's own bytes (a build that read its
    // rows while the revocation was committing is followed by the one the revocation scheduled).
    const rebuilt = await until('the rebuilt CRL', async () => {
      const crl = await fetch(`${base}/pki/cas/${issuingId}/crl`);
      expect(crl.status).toBe(200);
      expect(crl.headers.get('content-type')).toBe('application/pkix-crl');
      file('issuing.crl', Buffer.from(await crl.arrayBuffer()));
      const text = openssl('crl', '-inform', 'DER', '-in', 'issuing.crl', '-CAfile', 'issuing.pem', '-noout', '-text').out;
      const info = await crlInfo(issuingId);
      return text.includes(`Serial Number: ${leaf.serialNumber}`) && Number(info.crlNumber) > Number(first.crlNumber) && { info, text };
    }, CRL_REBUILD_DELAY_MS * 10);
    expect(rebuilt.info.revokedCount).toBeGreaterThanOrEqual(1);
    const text = rebuilt.text;
    expect(text).toContain('verify OK');
    expect(text).toContain(`Serial Number: ${leaf.serialNumber}`);
    expect(text).toMatch(/X509v3 CRL Reason Code:\s*\n\s*Superseded/);
    openssl('crl', '-inform', 'DER', '-in', 'issuing.crl', '-out', 'issuing-crl.pem');
    const pem = (await api().get(`/api/v1/cas/${issuingId}/crl?format=pem`).expect(200)).text;
    expect(pem).toContain('-----BEGIN X509 CRL-----');
    expect((await api().get(`/api/v1/cas/${issuingId}/crl?format=der`).expect(200)).headers['content-type']).toMatch(/application\/pkix-crl/);

    // The root's CRL too, since -crl_check_all checks every level.
    const rootCrl = await fetch(`${base}/pki/cas/${rootId}/crl`);
    file('root.crl', Buffer.from(await rootCrl.arrayBuffer()));
    openssl('crl', '-inform', 'DER', '-in', 'root.crl', '-out', 'root-crl.pem');
    const verdict = openssl('verify', '-crl_check_all', '-CRLfile', 'issuing-crl.pem', '-CRLfile', 'root-crl.pem', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem', 'crl-leaf.pem').out;
    expect(verdict).toMatch(/certificate revoked/);
    const good = (await issue({ commonName: 'fine.example.test' })).certificate;
    file('fine.pem', good.certificatePem);
    expect(openssl('verify', '-crl_check_all', '-CRLfile', 'issuing-crl.pem', '-CRLfile', 'root-crl.pem', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem', 'fine.pem').out).toContain('fine.pem: OK');

    const caCert = await fetch(`${base}/pki/cas/${issuingId}/ca.crt`);
    expect(caCert.headers.get('content-type')).toBe('application/pkix-cert');
    file('issuing.der', Buffer.from(await caCert.arrayBuffer()));
    expect(openssl('x509', '-inform', 'DER', '-in', 'issuing.der', '-noout', '-fingerprint', '-sha256').out.replace(/:/g, '').toLowerCase()).toContain(
      (await api().get(`/api/v1/cas/${issuingId}`)).body.ca.fingerprintSha256,
    );
    expect((await fetch(`${base}/pki/cas/00000000-0000-4000-8000-000000000000/crl`)).status).toBe(404);
    expect((await fetch(`${base}/pki/cas/not-a-uuid/ca.crt`)).status).toBe(404);
  });

  it('reads a new CRL once for all concurrent requests, serves byte-identical copies, 304s them, and answers format=info without it', async () => {
    const reads = async () => Number(/signet_pki_crl_reads_total\{[^}]*\} (\d+)/.exec((await request(http).get('/metrics').expect(200)).text)?.[1]);
    const crlNumberNow = async () => (await db.query(`SELECT crl_number::text AS n FROM crls WHERE ca_id = $1`, [issuingId])).rows[0].n as string;
    await fetch(`${base}/pki/cas/${issuingId}/crl`);
    const before = await crlNumberNow();
    const queue = new Queue('signer', { connection: { url: process.env.REDIS_URL }, prefix: QUEUE_PREFIX });
    try {
      await queue.add('crl.build', { caId: issuingId }, { jobId: `test-crl-single-${randomBytes(4).toString('hex')}`, removeOnComplete: true });
    } finally {
      await queue.close();
    }
    await until('a rebuilt CRL', async () => BigInt(await crlNumberNow()) > BigInt(before));

    // format=info reads the numbers only: it never goes through the DER cache.
    const readsBefore = await reads();
    const info = (await api().get(`/api/v1/cas/${issuingId}/crl?format=info`).expect(200)).body;
    const [row] = (await db.query(`SELECT crl_number::int AS n, revoked_count, this_update, next_update FROM crls WHERE ca_id = $1`, [issuingId])).rows;
    expect(info).toEqual({
      caId: issuingId, shard: null, issuer: 'CN=Revocation Issuing', crlNumber: row.n, revokedCount: row.revoked_count, thisUpdate: row.this_update.toISOString(),
      nextUpdate: row.next_update.toISOString(), revokedSerials: expect.any(Array), nextRevokedAfter: null,
    });
    expect(info.revokedSerials).toHaveLength(row.revoked_count);
    expect(await reads()).toBe(readsBefore);

    const responses = await Promise.all(Array.from({ length: 12 }, async () => {
      const res = await fetch(`${base}/pki/cas/${issuingId}/crl`);
      expect(res.status).toBe(200);
      return { etag: res.headers.get('etag')!, bytes: Buffer.from(await res.arrayBuffer()) };
    }));
    const etags = new Set(responses.map((r) => r.etag));
    // One read per CRL number served (a sweep may have rebuilt it once more meanwhile), never one per request.
    expect(await reads()).toBe(readsBefore + etags.size);
    for (const etag of etags) {
      const copies = responses.filter((r) => r.etag === etag);
      expect(copies.every((r) => r.bytes.equals(copies[0].bytes))).toBe(true);
      file('single.crl', copies[0].bytes);
      const text = openssl('crl', '-inform', 'DER', '-in', 'single.crl', '-CAfile', 'issuing.pem', '-noout', '-crlnumber').out;
      expect(text).toContain('verify OK');
      expect(`"crl-${BigInt(/crlNumber=(0x[0-9A-F]+)/i.exec(text)![1])}"`).toBe(etag);
    }
    const etag = responses[responses.length - 1].etag;
    const cached = await fetch(`${base}/pki/cas/${issuingId}/crl`, { headers: { 'If-None-Match': etag } });
    if (cached.headers.get('etag') === etag) expect(cached.status).toBe(304);
    const head = await fetch(`${base}/pki/cas/${issuingId}/crl`, { method: 'HEAD' });
    expect(head.headers.get('content-type')).toBe('application/pkix-crl');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('makes one or a few CRL builds of a burst of 500 revocations, not 500', async () => {
    const ca = (await api().post('/api/v1/cas', { name: 'Burst', subject: { commonName: 'Burst CA' }, parentCaId: rootId }).expect(201)).body.ca;
    const items = Array.from({ length: 500 }, (_, i) => ({ caId: ca.id, commonName: `burst-${i}.example.test` }));
    const batch = (await request(http).post('/api/v1/certificates/batch').set(bearer(adminKey)).send({ items }).expect(201)).body;
    expect(batch.successful).toBe(500);
    const before = await until('the burst CA CRL', async () => (await api().get(`/api/v1/cas/${ca.id}/crl?format=info`)).status === 200 && crlInfo(ca.id));
    const ids: string[] = batch.certificates.map((c: { certificate: { id: string } }) => c.certificate.id);
    let next = 0;
    const burstStarted = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        await api().post(`/api/v1/certificates/${id}/revoke`, { reason: 'cessationOfOperation' }).expect(200);
      }
    }));
    const after = await until('a CRL with all 500', async () => {
      const info = await crlInfo(ca.id);
      return info.revokedCount === 500 && info;
    }, 30000);
    const builds = Number(after.crlNumber) - Number(before.crlNumber);
    const windows = Math.ceil((Date.now() - burstStarted) / CRL_REBUILD_DELAY_MS);
    // At most one build per rebuild window the burst spanned (plus the one finishing it), never one each.
    expect(builds).toBeGreaterThanOrEqual(1);
    expect(builds).toBeLessThanOrEqual(windows + 1);
    expect(builds).toBeLessThan(50);
  });

  it('lets two signers build one CA\'s CRL without ever reusing a CRL number', async () => {
    await startSigner();
    const start = await until('the root CRL', async () => (await api().get(`/api/v1/cas/${rootId}/crl?format=info`)).status === 200 && crlInfo(rootId));
    const queue = new Queue('signer', { connection: { url: process.env.REDIS_URL }, prefix: QUEUE_PREFIX });
    try {
      await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'crl.build', data: { caId: rootId }, opts: { jobId: `test-crl-${rootId}-${i}`, removeOnComplete: true } })));
      await until('20 more builds', async () => {
        const [row] = (await db.query(`SELECT crl_number::int AS n FROM crls WHERE ca_id = $1`, [rootId])).rows;
        return row.n >= Number(start.crlNumber) + 20;
      }, 30000);
    } finally {
      await queue.close();
    }
    await sleep(500);
    const [row] = (await db.query(`SELECT c.crl_number::int AS n, ca.last_crl_number::int AS last FROM crls c JOIN cas ca ON ca.id = c.ca_id WHERE c.ca_id = $1`, [rootId])).rows;
    // Every build took its own number: none was lost to a concurrent one, and the stored CRL is the last.
    expect(row.n).toBe(row.last);
    expect(row.n).toBeGreaterThanOrEqual(Number(start.crlNumber) + 20);
    file('root-now.crl', Buffer.from(await (await fetch(`${base}/pki/cas/${rootId}/crl`)).arrayBuffer()));
    expect(openssl('crl', '-inform', 'DER', '-in', 'root-now.crl', '-noout', '-crlnumber').out).toMatch(new RegExp(`crlNumber=0x${row.n.toString(16).toUpperCase()}`, 'i'));
  });

  it('answers revoked for a revoked intermediate from its parent, on OCSP and on the parent CRL', async () => {
    const ca = (await api().post('/api/v1/cas', { name: 'Doomed', subject: { commonName: 'Doomed CA' }, parentCaId: rootId }).expect(201)).body.ca;
    file('doomed.pem', ca.certificatePem);
    expect(await ocspCheck('root.pem', 'doomed.pem')).toContain('doomed.pem: good');
    await api().post(`/api/v1/cas/${ca.id}/revoke`, { reason: 'caCompromise' }).expect(200);
    expect(await ocspCheck('root.pem', 'doomed.pem')).toMatch(/doomed\.pem: revoked[\s\S]*Reason: cACompromise/i);
    await until('the root CRL listing it', async () => {
      const res = await fetch(`${base}/pki/cas/${rootId}/crl`);
      file('root-doomed.crl', Buffer.from(await res.arrayBuffer()));
      return openssl('crl', '-inform', 'DER', '-in', 'root-doomed.crl', '-noout', '-text').out.includes(`Serial Number: ${ca.serialNumber}`);
    }, CRL_REBUILD_DELAY_MS * 10);
  });

  it('re-signs OCSP responses before nextUpdate, keeping revoked ones revoked', async () => {
    const good = (await issue({ commonName: 'refresh.example.test' })).certificate;
    const revoked = (await issue({ commonName: 'refresh-revoked.example.test' })).certificate;
    await api().post(`/api/v1/certificates/${revoked.id}/revoke`, { reason: 'affiliationChanged' }).expect(200);
    const first = (await api().get(`/api/v1/ocsp/status/${good.serialNumber}`)).body;
    const firstRevoked = (await api().get(`/api/v1/ocsp/status/${revoked.serialNumber}`)).body;
    await until('a refreshed response', async () => (await api().get(`/api/v1/ocsp/status/${good.serialNumber}`)).body.thisUpdate > first.thisUpdate, 15000);
    await until('a refreshed revoked response', async () => (await api().get(`/api/v1/ocsp/status/${revoked.serialNumber}`)).body.thisUpdate > firstRevoked.thisUpdate, 15000);
    file('refresh-revoked.pem', revoked.certificatePem);
    expect(await ocspCheck('issuing.pem', 'refresh-revoked.pem')).toMatch(/revoked[\s\S]*Reason: affiliationChanged/);
  });

  it('renews due certificates with autoRenew: managed with a stored key get a new key, csr-mode their stored CSR; autoRenew that could never work is refused', async () => {
    const stored = (await issue({ commonName: 'auto.example.test', autoRenew: true, renewalThresholdDays: 30, validityDays: 10, storeKey: true })).certificate;
    expect(stored.renewal.status).toBe('scheduled');
    expect(stored.expiringSoon).toBe(true);
    // A managed key nobody kept could never reach anyone: autoRenew is refused, at issuance and by PATCH.
    const refused = await api().post('/api/v1/certificates', { caId: issuingId, commonName: 'keyless.example.test', autoRenew: true, renewalThresholdDays: 30, validityDays: 10 });
    expect([refused.status, refused.body.code, refused.body.details?.rule]).toEqual([422, 'policy_violation', 'autoRenew']);
    expect(refused.body.error).toMatch(/storeKey/);
    const keyless = (await issue({ commonName: 'keyless.example.test', renewalThresholdDays: 30, validityDays: 10 })).certificate;
    expect(keyless.renewal).toEqual({ status: 'none', lastAttemptAt: null, lastError: null, nextAttemptAt: null });
    const patchRefused = await api().patch(`/api/v1/certificates/${keyless.id}`, { autoRenew: true });
    expect([patchRefused.status, patchRefused.body.details?.rule]).toEqual([422, 'autoRenew']);
    expect(openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'auto-csr.key', '-out', 'auto.csr', '-subj', '/CN=auto-csr.example.test').ok).toBe(true);
    const fromCsr = (await issue({ mode: 'csr', csrPem: readFileSync(join(dir, 'auto.csr'), 'utf8'), autoRenew: true, renewalThresholdDays: 30, validityDays: 10 })).certificate;
    await makeDue(stored.id);
    await makeDue(fromCsr.id);
    const renewedOf = (id: string) => until(`renewal of ${id}`, async () => (await api().get(`/api/v1/certificates/${id}`)).body.certificate.supersededById, 15000);
    const [storedNew, csrNew] = await Promise.all([renewedOf(stored.id), renewedOf(fromCsr.id)]);
    const renewed = (await api().get(`/api/v1/certificates/${storedNew}`).expect(200)).body.certificate;
    expect(renewed).toMatchObject({ renewedFromId: stored.id, commonName: 'auto.example.test', hasStoredKey: true, autoRenew: true, status: 'active' });
    expect(renewed.serialNumber).not.toBe(stored.serialNumber);
    file('renewed.pem', renewed.certificatePem);
    file('renewed-untrusted.pem', renewed.chainPem);
    expect(openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'renewed-untrusted.pem', 'renewed.pem').out).toContain('renewed.pem: OK');
    const key = (await api().get(`/api/v1/certificates/${storedNew}/download?format=key`).expect(200)).text;
    file('renewed.key', key);
    expect(openssl('pkey', '-in', 'renewed.key', '-pubout').out).toBe(openssl('x509', '-in', 'renewed.pem', '-noout', '-pubkey').out);
    file('stored-old.pem', stored.certificatePem);
    expect(openssl('x509', '-in', 'stored-old.pem', '-noout', '-pubkey').out).not.toBe(openssl('x509', '-in', 'renewed.pem', '-noout', '-pubkey').out);

    const csrRenewed = (await api().get(`/api/v1/certificates/${csrNew}`).expect(200)).body.certificate;
    file('csr-renewed.pem', csrRenewed.certificatePem);
    expect(openssl('x509', '-in', 'csr-renewed.pem', '-noout', '-pubkey').out).toBe(openssl('pkey', '-in', 'auto-csr.key', '-pubout').out);

    expect((await api().get(`/api/v1/certificates/${keyless.id}`)).body.certificate.supersededById).toBeNull();
    // The renewed one records its attempt; its successor (10 days, threshold 30) is not due again at once:
    // renewed at half its life, not in a loop.
    const old = (await api().get(`/api/v1/certificates/${stored.id}`)).body.certificate;
    expect(old.renewal).toEqual({ status: 'none', lastAttemptAt: expect.any(String), lastError: null, nextAttemptAt: null });
    expect(renewed.renewal.status).toBe('scheduled');
    expect(Date.parse(renewed.renewal.nextAttemptAt)).toBeGreaterThan(Date.now() + 4 * 86_400_000);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await api().get(`/api/v1/certificates/${storedNew}`)).body.certificate.supersededById).toBeNull();
    const audit = (await api().get(`/api/v1/audit?eventType=certificate.renew&resourceId=${storedNew}`).expect(200)).body.events;
    expect(audit).toEqual([expect.objectContaining({ outcome: 'success', actor: expect.objectContaining({ type: 'system', name: 'renewal-sweep' }) })]);
  });

  it('renews under the profile in the sweep: the profile as it is now decides validity and usage', async () => {
    const profile = (await api().post('/api/v1/profiles', { name: 'Sweep', slug: `sweep-${randomBytes(3).toString('hex')}`, caId: issuingId, defaultValidityDays: 15, usage: 'client' }).expect(201)).body.profile;
    const first = (await issue({ profileId: profile.id, commonName: 'swept.example.test', autoRenew: true, renewalThresholdDays: 30, validityDays: 10, storeKey: true })).certificate;
    expect(first).toMatchObject({ profileId: profile.id, usage: 'client' });
    await makeDue(first.id);
    const renewedId = await until('renewal under the profile', async () => (await api().get(`/api/v1/certificates/${first.id}`)).body.certificate.supersededById, 15000);
    const renewed = (await api().get(`/api/v1/certificates/${renewedId}`).expect(200)).body.certificate;
    expect(renewed).toMatchObject({ profileId: profile.id, usage: 'client', extendedKeyUsage: ['clientAuth'], renewedFromId: first.id });
    expect(Math.round((Date.parse(renewed.validTo) - Date.parse(renewed.validFrom)) / 86_400_000)).toBe(15);
  });

  it('records a failed renewal on the certificate: status failed, the refusal as lastError, the next attempt', async () => {
    const profile = (await api().post('/api/v1/profiles', { name: 'Narrowing', slug: `narrow-${randomBytes(3).toString('hex')}`, caId: issuingId, allowedDomains: ['example.test'] }).expect(201)).body.profile;
    // Not due yet (1 day's threshold); the profile narrows; then the threshold makes it due: the sweep's renewal is refused.
    const doomed = (await issue({ profileId: profile.id, commonName: 'doomed.example.test', autoRenew: true, renewalThresholdDays: 1, validityDays: 10, storeKey: true })).certificate;
    expect(doomed.renewal).toEqual({ status: 'scheduled', lastAttemptAt: null, lastError: null, nextAttemptAt: expect.any(String) });
    await api().patch(`/api/v1/profiles/${profile.id}`, { allowedDomains: ['elsewhere.test'] }).expect(200);
    await makeDue(doomed.id);
    const failed = await until('a failed renewal', async () => {
      const c = (await api().get(`/api/v1/certificates/${doomed.id}`)).body.certificate;
      return c.renewal.status === 'failed' && c;
    }, 15000);
    expect(failed.renewal).toEqual({ status: 'failed', lastAttemptAt: expect.any(String), lastError: expect.stringMatching(/allowed domains/), nextAttemptAt: expect.any(String) });
    expect(Date.parse(failed.renewal.nextAttemptAt)).toBeGreaterThan(Date.parse(failed.renewal.lastAttemptAt));
    expect(failed.supersededById).toBeNull();
    expect(failed.renewal.lastError).not.toMatch(/signetJobFailure/);
    const events = (await api().get(`/api/v1/audit?eventType=certificate.renew&resourceId=${doomed.id}&outcome=failed`).expect(200)).body.events;
    expect(events[0]).toEqual(expect.objectContaining({ outcome: 'failed', error: expect.objectContaining({ code: 'policy_violation' }) }));
  });

  it('needs the revoke permission, and answers a second revoke with 409 already_revoked', async () => {
    const leaf = (await issue({ commonName: 'perm.example.test' })).certificate;
    const member = await createKey(gateway, adminKey, { name: 'reader', role: 'member', permissions: { [issuingId]: { read: true } } });
    await request(http).post(`/api/v1/certificates/${leaf.id}/revoke`).set(bearer(member.key)).send({}).expect(403);
    await api().post(`/api/v1/certificates/${leaf.id}/revoke`, {}).expect(200);
    expect((await api().post(`/api/v1/certificates/${leaf.id}/revoke`, {}).expect(409)).body.code).toBe('already_revoked');
  });
});
