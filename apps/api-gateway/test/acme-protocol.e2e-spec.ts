/**
 * The ACME server (API.md section 7, RFC 8555, RFC 9773) against the real stack: two gateway replicas
 * sharing PostgreSQL and Redis, a built signer, a loopback DNS server for the names' addresses and the
 * dns-01 TXT records, and a loopback http-01 responder. The happy path is driven by the kept client
 * library `acme-client`; the refusals by hand-made JWS (jose), since they are what clients must not send.
 * Real clients (certbot, lego, caddy, dehydrated) are judged in acme-clients*.e2e-spec.ts.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, TestDnsServer, freePort, startDnsServer, stopService } from '@signet/testing';
import * as acme from 'acme-client';
import { FlattenedSign, GenerateKeyPairResult, KeyLike, exportJWK, generateKeyPair } from 'jose';
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { createGateway } from '../src/app/gateway';
import { createOrg, startSigner, testGatewayConfig, until, withKey } from './support';

const DOMAIN = 'acme.test';
const ERR = 'urn:ietf:params:acme:error:';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

describe('ACME server: RFC 8555 resources, refusals and two replicas', () => {
  let signer: RunningService;
  let replicas: NestFastifyApplication[] = [];
  let bases: string[] = [];
  let dns: TestDnsServer;
  let http01: Server;
  const tokens = new Map<string, string>();
  let db: Client;
  let adminKey: string;
  let orgSlug: string;
  let caId: string;
  let profileId: string;
  let openProfileSlug: string;

  const api = () => withKey(replicas[0].getHttpServer(), adminKey);
  const directoryUrl = (replica = 0, profile = 'web') => `${bases[replica]}/acme/${orgSlug}/${profile}/directory`;
  const eabKey = async (id = profileId) => (await api().post('/api/v1/acme/eab-keys', { profileId: id, name: 'test' }).expect(201)).body;

  beforeAll(async () => {
    signer = await startSigner();
    dns = await startDnsServer();
    dns.setDefaultA('127.0.0.1');
    http01 = createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const answer = token ? tokens.get(token) : undefined;
      res.writeHead(answer ? 200 : 404).end(answer ?? 'no');
    });
    await new Promise<void>((resolve) => http01.listen(0, '127.0.0.1', resolve));
    const env = {
      ACME_DNS_RESOLVER: dns.address, ACME_HTTP01_PORT: String((http01.address() as AddressInfo).port), ACME_TLSALPN01_PORT: String(await freePort()),
      ACME_VALIDATION_ATTEMPTS: '1', ACME_VALIDATION_TIMEOUT_MS: '3000',
    };
    for (let i = 0; i < 2; i++) {
      const app = await createGateway(testGatewayConfig(env));
      await app.listen(0, '127.0.0.1');
      replicas.push(app);
      bases.push(`http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`);
    }
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const org = await createOrg(replicas[0], 'ACME org');
    adminKey = org.adminKey;
    orgSlug = org.org.slug;
    caId = (await api().post('/api/v1/cas', { name: 'ACME root', subject: { commonName: 'ACME test root' } }).expect(201)).body.ca.id;
    profileId = (await api().post('/api/v1/profiles', { name: 'Web', slug: 'web', caId, allowedDomains: [DOMAIN], defaultValidityDays: 30 }).expect(201)).body.profile.id;
    openProfileSlug = 'open';
    await api().post('/api/v1/profiles', { name: 'Open', slug: openProfileSlug, caId, allowedDomains: [DOMAIN], acmeEabRequired: false }).expect(201);
  }, 60_000);

  afterAll(async () => {
    await db?.end();
    for (const app of replicas) await app.close();
    await new Promise((resolve) => http01?.close(resolve));
    await dns?.close();
    expect(await stopService(signer)).toBe(0);
  });

  // ---- a hand-made client, for what acme-client would never send ----

  class RawClient {
    nonce: string | null = null;
    kid: string | null = null;
    /** Sent with every request (a client address through a trusted proxy). */
    headers: Record<string, string> = {};
    constructor(readonly keys: GenerateKeyPairResult<KeyLike>, readonly alg = 'ES256', readonly replica = 0, readonly profile = 'web') {}

    get directory() {
      return fetch(directoryUrl(this.replica, this.profile), { headers: this.headers }).then((r) => r.json() as Promise<Record<string, string>>);
    }

    async freshNonce(replica = this.replica): Promise<string> {
      const dir = await fetch(directoryUrl(replica, this.profile), { headers: this.headers }).then((r) => r.json() as Promise<Record<string, string>>);
      return (await fetch(dir.newNonce, { method: 'HEAD', headers: this.headers })).headers.get('replay-nonce')!;
    }

    async jws(url: string, payload: unknown, options: { nonce?: string; useJwk?: boolean; key?: KeyLike; protect?: Record<string, unknown> } = {}) {
      const header: Record<string, unknown> = { alg: this.alg, url, nonce: options.nonce ?? this.nonce ?? (await this.freshNonce()), ...options.protect };
      if (options.useJwk || !this.kid) header.jwk = await exportJWK(this.keys.publicKey);
      else header.kid = this.kid;
      const bytes = payload === '' ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
      return new FlattenedSign(bytes).setProtectedHeader(header as never).sign(options.key ?? this.keys.privateKey);
    }

    async post(url: string, payload: unknown, options: Parameters<RawClient['jws']>[2] = {}): Promise<Answer> {
      const body = await this.jws(url, payload, options);
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/jose+json', ...this.headers }, body: JSON.stringify(body) });
      this.nonce = res.headers.get('replay-nonce');
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* a PEM chain or an empty body */
      }
      return { status: res.status, headers: res.headers, body: parsed };
    }

    async register(eab?: { keyId: string; hmacKey: string }): Promise<Answer> {
      const dir = await this.directory;
      const payload: Record<string, unknown> = { termsOfServiceAgreed: true, contact: ['mailto:ops@acme.test'] };
      if (eab) {
        payload.externalAccountBinding = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(await exportJWK(this.keys.publicKey))))
          .setProtectedHeader({ alg: 'HS256', kid: eab.keyId, url: dir.newAccount })
          .sign(Buffer.from(eab.hmacKey, 'base64url'));
      }
      const answer = await this.post(dir.newAccount, payload, { useJwk: true });
      if (answer.status === 201 || answer.status === 200) this.kid = answer.headers.get('location');
      return answer;
    }
  }

  const rawClient = async (alg = 'ES256', replica = 0, profile = 'web') => {
    const keys = await generateKeyPair(alg === 'RS256' ? 'RS256' : alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : alg === 'RS256' ? { modulusLength: 2048 } : {});
    return new RawClient(keys, alg, replica, profile);
  };

  const acmeClient = async (eab: { eabKey: { keyId: string }; hmacKey: string } | null, profile = 'web', replica = 0) =>
    new acme.Client({
      directoryUrl: directoryUrl(replica, profile),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      ...(eab ? { externalAccountBinding: { kid: eab.eabKey.keyId, hmacKey: eab.hmacKey } } : {}),
    });

  /** The whole flow with acme-client: account, order, http-01 (or dns-01), finalize, download. */
  const obtain = async (client: acme.Client, names: string[], challenge: 'http-01' | 'dns-01' = 'http-01') => {
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
    return client.auto({
      csr, termsOfServiceAgreed: true, challengePriority: [challenge], skipChallengeVerification: true,
      challengeCreateFn: async (authz, chall, keyAuthorization) => {
        if (chall.type === 'http-01') tokens.set(chall.token, keyAuthorization);
        // For dns-01, acme-client hands over the TXT value itself (the key authorization's digest).
        else dns.setTxt(`_acme-challenge.${authz.identifier.value}`, [keyAuthorization]);
      },
      challengeRemoveFn: async (authz, chall) => {
        tokens.delete(chall.token);
        dns.clearTxt(`_acme-challenge.${authz.identifier.value}`);
      },
    });
  };

  it('serves the directory, and newNonce as HEAD 200 and GET 204 with a Replay-Nonce, never cached', async () => {
    const dir = (await (await fetch(directoryUrl())).json()) as Record<string, any>;
    expect(dir).toEqual(expect.objectContaining({
      newNonce: `${bases[0]}/acme/${orgSlug}/web/new-nonce`, newAccount: expect.stringMatching(/new-account$/), newOrder: expect.stringMatching(/new-order$/),
      revokeCert: expect.any(String), keyChange: expect.any(String), renewalInfo: expect.any(String), meta: expect.objectContaining({ externalAccountRequired: true }),
    }));
    const head = await fetch(dir.newNonce, { method: 'HEAD' });
    expect([head.status, head.headers.get('cache-control'), head.headers.get('content-length')]).toEqual([200, 'no-store', '0']);
    expect(head.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const get = await fetch(dir.newNonce);
    expect(get.status).toBe(204);
    expect(get.headers.get('replay-nonce')).not.toBe(head.headers.get('replay-nonce'));
    expect(get.headers.get('link')).toContain('rel="index"');
    const missing = await fetch(`${bases[0]}/acme/${orgSlug}/nope/directory`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await missing.json()) as { type: string }).type).toBe(`${ERR}malformed`);
  });

  it('issues through acme-client over http-01 and dns-01, with EAB; the certificate verifies and is in the API as source acme', async () => {
    const eab = await eabKey();
    const client = await acmeClient(eab);
    const pem = await obtain(client, [`www.${DOMAIN}`, `api.${DOMAIN}`]);
    const leaf = new X509Certificate(pem.split(/(?=-----BEGIN CERTIFICATE-----)/)[0]);
    expect(leaf.subjectAltName).toContain(`DNS:www.${DOMAIN}`);
    const ca = (await api().get(`/api/v1/cas/${caId}`).expect(200)).body.ca;
    expect(leaf.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
    const wildcard = await obtain(client, [`*.${DOMAIN}`], 'dns-01');
    expect(new X509Certificate(wildcard.split(/(?=-----BEGIN)/)[0]).subjectAltName).toContain(`DNS:*.${DOMAIN}`);
    // Its authorization (for the base domain, wildcard) is reused: the next wildcard order is ready at once.
    expect((await client.createOrder({ identifiers: [{ type: 'dns', value: `*.${DOMAIN}` }] })).status).toBe('ready');

    const listed = (await api().get(`/api/v1/certificates?search=www.${DOMAIN}`).expect(200)).body.certificates;
    expect(listed[0]).toEqual(expect.objectContaining({ source: 'acme', acmeAccountId: expect.any(String), profileId }));
    // The EAB key is now bound to that account; its HMAC key is never shown again.
    const keys = (await api().get('/api/v1/acme/eab-keys').expect(200)).body.eabKeys;
    const bound = keys.find((k: { id: string }) => k.id === eab.eabKey.id);
    expect(bound.boundAccountId).toBe(listed[0].acmeAccountId);
    expect(JSON.stringify(keys)).not.toContain(eab.hmacKey);
    const stored = await db.query('SELECT encrypted_key FROM acme_eab_keys WHERE id = $1', [eab.eabKey.id]);
    expect(stored.rows[0].encrypted_key.toString()).not.toContain(eab.hmacKey);
  });

  it('refuses a new account without EAB (externalAccountRequired), with a bound EAB key, or a bad MAC; accepts ES384, RS256 and EdDSA keys', async () => {
    const noEab = await rawClient();
    const refused = await noEab.register();
    expect([refused.status, refused.body.type]).toEqual([400, `${ERR}externalAccountRequired`]);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.headers.get('replay-nonce')).toBeTruthy();

    const eab = await eabKey();
    const first = await rawClient('ES384');
    expect((await first.register({ keyId: eab.eabKey.keyId, hmacKey: eab.hmacKey })).status).toBe(201);
    const second = await rawClient('RS256');
    const reused = await second.register({ keyId: eab.eabKey.keyId, hmacKey: eab.hmacKey });
    expect([reused.status, reused.body.type]).toEqual([403, `${ERR}unauthorized`]);
    const badMac = await second.register({ keyId: (await eabKey()).eabKey.keyId, hmacKey: Buffer.alloc(32, 7).toString('base64url') });
    expect([badMac.status, badMac.body.type]).toEqual([403, `${ERR}unauthorized`]);
    const ed = await rawClient('EdDSA');
    const edEab = await eabKey();
    expect((await ed.register({ keyId: edEab.eabKey.keyId, hmacKey: edEab.hmacKey })).status).toBe(201);

    // The same key again: 200 with the same account; onlyReturnExisting for an unknown key: accountDoesNotExist.
    const again = await first.post((await first.directory).newAccount, { onlyReturnExisting: true }, { useJwk: true });
    expect([again.status, again.headers.get('location')]).toEqual([200, first.kid]);
    const stranger = await rawClient();
    const none = await stranger.post((await stranger.directory).newAccount, { onlyReturnExisting: true }, { useJwk: true });
    expect(none.body.type).toBe(`${ERR}accountDoesNotExist`);
  });

  it('answers a reused or unknown nonce with badNonce and a fresh Replay-Nonce that works; nonces from one replica are good at the other', async () => {
    const client = await rawClient('ES256', 0, openProfileSlug);
    expect((await client.register()).status).toBe(201);
    const dir = await client.directory;
    const nonce = await client.freshNonce();
    const ok = await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `n1.${DOMAIN}` }] }, { nonce });
    expect(ok.status).toBe(201);
    const replay = await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `n2.${DOMAIN}` }] }, { nonce });
    expect([replay.status, replay.body.type]).toEqual([400, `${ERR}badNonce`]);
    const fresh = replay.headers.get('replay-nonce')!;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect((await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `n2.${DOMAIN}` }] }, { nonce: fresh })).status).toBe(201);
    expect((await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `n3.${DOMAIN}` }] }, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' })).body.type).toBe(`${ERR}badNonce`);

    // Replica 1 hands out the nonce; replica 0 takes it, once.
    const fromOther = await client.freshNonce(1);
    expect((await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `n4.${DOMAIN}` }] }, { nonce: fromOther })).status).toBe(201);
    // And the whole acme-client session alternates replicas: account on replica 1, orders on replica 0's URLs.
    const session = await acmeClient(null, openProfileSlug, 1);
    expect(await obtain(session, [`replica.${DOMAIN}`])).toContain('BEGIN CERTIFICATE');
  });

  it('refuses a wrong account key, a URL mismatch, a name outside the profile (rejectedIdentifier) and a CSR with names outside the order (badCSR)', async () => {
    const owner = await rawClient('ES256', 0, openProfileSlug);
    await owner.register();
    const dir = await owner.directory;
    const thief = await rawClient('ES256', 0, openProfileSlug);
    // kid of the owner, signed with the thief's key.
    const forged = await thief.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `x.${DOMAIN}` }] }, { protect: { kid: owner.kid }, key: thief.keys.privateKey });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    const wrongKey = new RawClient(thief.keys, 'ES256', 0, openProfileSlug);
    wrongKey.kid = owner.kid;
    const answer = await wrongKey.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `x.${DOMAIN}` }] });
    expect([answer.status, answer.body.type]).toEqual([403, `${ERR}unauthorized`]);
    const elsewhere = await owner.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `x.${DOMAIN}` }] }, { protect: { url: dir.newAccount } });
    expect(elsewhere.body.type).toBe(`${ERR}unauthorized`);

    const outside = await owner.post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'www.example.org' }] });
    expect([outside.status, outside.body.type]).toEqual([400, `${ERR}rejectedIdentifier`]);
    expect(outside.body.detail).toMatch(/allowedDomains/);
    const unsupported = await owner.post(dir.newOrder, { identifiers: [{ type: 'email', value: 'a@acme.test' }] });
    expect(unsupported.body.type).toBe(`${ERR}unsupportedIdentifier`);
    // A profile that needs four eyes is no ACME directory to order from: no approval would ever be asked for.
    await api().post('/api/v1/profiles', { name: 'Guarded', slug: 'guarded', caId, allowedDomains: [DOMAIN], acmeEabRequired: false, requireApproval: true }).expect(201);
    const guarded = await rawClient('ES256', 0, 'guarded');
    expect((await guarded.register()).status).toBe(201);
    const waiting = await guarded.post((await guarded.directory).newOrder, { identifiers: [{ type: 'dns', value: `g.${DOMAIN}` }] });
    expect([waiting.status, waiting.body.type]).toEqual([403, `${ERR}unauthorized`]);
    expect(waiting.body.detail).toMatch(/approval/);

    // An order for one name, finalized with a CSR for two: badCSR, and the order stays ready for a right CSR.
    const order = await owner.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `csr.${DOMAIN}` }] });
    expect(order.status).toBe(201);
    const authz = await owner.post(order.body.authorizations[0], '');
    const http = authz.body.challenges.find((c: { type: string }) => c.type === 'http-01');
    const thumbprint = createHash('sha256').update(JSON.stringify(sortedJwk((await exportJWK(owner.keys.publicKey)) as unknown as Record<string, unknown>))).digest('base64url');
    tokens.set(http.token, `${http.token}.${thumbprint}`);
    expect((await owner.post(http.url, {})).status).toBe(200);
    const orderUrl = order.headers.get('location')!;
    await until('the order to be ready', async () => (await owner.post(orderUrl, '')).body.status === 'ready');
    const [, wrongCsr] = await acme.crypto.createCsr({ commonName: `csr.${DOMAIN}`, altNames: [`csr.${DOMAIN}`, `extra.${DOMAIN}`] });
    const bad = await owner.post(order.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(wrongCsr) });
    expect([bad.status, bad.body.type]).toEqual([400, `${ERR}badCSR`]);
    expect(bad.body.detail).toContain(`extra.${DOMAIN}`);
    const [, rightCsr] = await acme.crypto.createCsr({ commonName: `csr.${DOMAIN}`, altNames: [`csr.${DOMAIN}`] });
    const good = await owner.post(order.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(rightCsr) });
    expect([good.status, good.body.status]).toEqual([200, 'valid']);
    const chain = await owner.post(good.body.certificate, '');
    expect(chain.headers.get('content-type')).toMatch(/application\/pem-certificate-chain/);
    expect(String(chain.body)).toContain('BEGIN CERTIFICATE');
    // Finalizing again: orderNotReady.
    expect((await owner.post(order.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(rightCsr) })).body.type).toBe(`${ERR}orderNotReady`);
    // Garbage bodies are problem documents, never a 500.
    for (const body of ['', 'null', '[]', '{"protected":1}', '{"protected":"a","payload":"b","signature":"c"}', JSON.stringify({ protected: 'e30', payload: '', signature: '' })]) {
      const res = await fetch(dir.newOrder, { method: 'POST', headers: { 'Content-Type': 'application/jose+json' }, body });
      expect([body, res.status < 500, res.headers.get('content-type')]).toEqual([body, true, expect.stringMatching(/problem\+json/)]);
    }
  });

  it('fails a challenge whose response is wrong, and its authorization and order with it', async () => {
    const client = await rawClient('ES256', 0, openProfileSlug);
    await client.register();
    const dir = await client.directory;
    const order = await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `wrong.${DOMAIN}` }] });
    const authz = await client.post(order.body.authorizations[0], '');
    const http = authz.body.challenges.find((c: { type: string }) => c.type === 'http-01');
    tokens.set(http.token, 'not-the-key-authorization');
    expect((await client.post(http.url, {})).body.status).toBe('processing');
    const failed = await until('the challenge to fail', async () => {
      const c = await client.post(http.url, '');
      return c.body.status === 'invalid' && c.body;
    });
    expect(failed.error.type).toBe(`${ERR}incorrectResponse`);
    expect((await client.post(order.body.authorizations[0], '')).body.status).toBe('invalid');
    expect((await client.post(order.headers.get('location')!, '')).body.status).toBe('invalid');
  });

  it('revokes by account key and by certificate key (OCSP says revoked), and gives renewal information; replaces is honoured once', async () => {
    const eab = await eabKey();
    const client = await acmeClient(eab);
    const pem = await obtain(client, [`revoke.${DOMAIN}`]);
    await client.revokeCertificate(pem, { reason: 4 });
    const serial = new X509Certificate(pem.split(/(?=-----BEGIN)/)[0]).serialNumber;
    expect((await api().get(`/api/v1/ocsp/status/${serial}`).expect(200)).body).toEqual(expect.objectContaining({ status: 'revoked', revocationReason: 'superseded' }));
    await expect(client.revokeCertificate(pem)).rejects.toThrow(/already revoked/i);

    // By the certificate's own key, from a client with no account at all.
    const [key, csr] = await acme.crypto.createCsr({ commonName: `bykey.${DOMAIN}` }, await acme.crypto.createPrivateEcdsaKey());
    const byKey = await client.auto({
      csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], skipChallengeVerification: true,
      challengeCreateFn: async (_a, c, k) => void tokens.set(c.token, k), challengeRemoveFn: async (_a, c) => void tokens.delete(c.token),
    });
    const stranger = new RawClient({ privateKey: createPrivateKey(key), publicKey: createPublicKey(key) } as GenerateKeyPairResult<KeyLike>);
    const certificateDer = new X509Certificate(byKey.split(/(?=-----BEGIN)/)[0]).raw.toString('base64url');
    const revokeUrl = (await stranger.directory).revokeCert;
    const notTheKey = await (await rawClient()).post(revokeUrl, { certificate: certificateDer }, { useJwk: true });
    expect([notTheKey.status, notTheKey.body.type]).toEqual([403, `${ERR}unauthorized`]);
    expect((await stranger.post(revokeUrl, { certificate: certificateDer, reason: 1 }, { useJwk: true })).status).toBe(200);
    const byKeySerial = new X509Certificate(byKey.split(/(?=-----BEGIN)/)[0]).serialNumber;
    expect((await api().get(`/api/v1/ocsp/status/${byKeySerial}`).expect(200)).body.status).toBe('revoked');

    // Renewal information: inside the last third of the lifetime for a good certificate, now for a revoked one.
    const fresh = await obtain(client, [`ari.${DOMAIN}`]);
    const leaf = new X509Certificate(fresh.split(/(?=-----BEGIN)/)[0]);
    const certId = `${akiOf(leaf).toString('base64url')}.${Buffer.from(leaf.serialNumber.length % 2 ? `0${leaf.serialNumber}` : leaf.serialNumber, 'hex').toString('base64url')}`;
    const dir = (await (await fetch(directoryUrl())).json()) as Record<string, any>;
    const info = await fetch(`${dir.renewalInfo}/${certId}`);
    expect(info.status).toBe(200);
    expect(Number(info.headers.get('retry-after'))).toBeGreaterThan(0);
    const window = ((await info.json()) as any).suggestedWindow;
    const from = new Date(leaf.validFrom).getTime();
    const to = new Date(leaf.validTo).getTime();
    expect(new Date(window.start).getTime()).toBeGreaterThanOrEqual(to - (to - from) / 3 - 1000);
    expect(new Date(window.end).getTime()).toBeLessThanOrEqual(to);
    expect(new Date(window.end).getTime()).toBeGreaterThan(new Date(window.start).getTime());
    const revokedLeaf = new X509Certificate(pem.split(/(?=-----BEGIN)/)[0]);
    const revokedId = `${akiOf(revokedLeaf).toString('base64url')}.${Buffer.from(revokedLeaf.serialNumber.length % 2 ? `0${revokedLeaf.serialNumber}` : revokedLeaf.serialNumber, 'hex').toString('base64url')}`;
    const revokedWindow = ((await (await fetch(`${dir.renewalInfo}/${revokedId}`)).json()) as any).suggestedWindow;
    expect(new Date(revokedWindow.start).getTime()).toBeLessThanOrEqual(Date.now());
    expect((await fetch(`${dir.renewalInfo}/not.a-cert-id`)).status).toBe(404);

    // replaces: the first order replacing it is taken, a second is alreadyReplaced.
    const replacing = await client.createOrder({ identifiers: [{ type: 'dns', value: `ari.${DOMAIN}` }], replaces: certId } as never);
    // Its authorization is reused (the account validated ari.acme.test a moment ago): ready at once.
    expect(replacing.status).toBe('ready');
    await expect(client.createOrder({ identifiers: [{ type: 'dns', value: `ari.${DOMAIN}` }], replaces: certId } as never)).rejects.toThrow(/replace/i);
  });

  it('limits new orders per account and per client address (counters in Redis) with rateLimited and Retry-After; behind a trusted proxy, URLs follow PUBLIC_BASE_URL', async () => {
    // Behind a trusted proxy that names a client address of its own, so other tests' orders (all from
    // 127.0.0.1 in this hour) do not count; URLs then follow PUBLIC_BASE_URL, as behind a real proxy.
    const port = await freePort();
    const limited = await createGateway(testGatewayConfig({
      ACME_ORDERS_PER_ACCOUNT_PER_HOUR: '2', ACME_ORDERS_PER_IP_PER_HOUR: '3', ACME_VALIDATION_WORKER: 'false', TRUST_PROXY: '127.0.0.1', PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    }));
    await limited.listen(port, '127.0.0.1');
    const proxied = { 'X-Forwarded-For': `198.51.100.${1 + Math.floor(Math.random() * 250)}` };
    try {
      bases.push(`http://127.0.0.1:${port}`);
      const client = await rawClient('ES256', bases.length - 1, openProfileSlug);
      client.headers = proxied;
      expect((await client.register()).status).toBe(201);
      const dir = await client.directory;
      const order = (n: number) => client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `rl${n}.${DOMAIN}` }] });
      expect([(await order(1)).status, (await order(2)).status]).toEqual([201, 201]);
      const third = await order(3);
      expect([third.status, third.body.type]).toEqual([429, `${ERR}rateLimited`]);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another account from the same address: its own budget, then the per-address one.
      const other = await rawClient('ES256', bases.length - 1, openProfileSlug);
      other.headers = proxied;
      await other.register();
      const fourth = await other.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `rl4.${DOMAIN}` }] });
      expect([fourth.status, fourth.body.detail]).toEqual([429, expect.stringMatching(/client address/)]);
    } finally {
      bases.pop();
      await limited.close();
    }
  });

  it('changes an account key (keyChange), deactivates an authorization and an account', async () => {
    const client = await rawClient('ES256', 0, openProfileSlug);
    await client.register();
    const dir = await client.directory;
    const next = await generateKeyPair('ES256');
    const inner = await new FlattenedSign(new TextEncoder().encode(JSON.stringify({ account: client.kid, oldKey: await exportJWK(client.keys.publicKey) })))
      .setProtectedHeader({ alg: 'ES256', jwk: await exportJWK(next.publicKey), url: dir.keyChange } as never)
      .sign(next.privateKey);
    expect((await client.post(dir.keyChange, inner)).status).toBe(200);
    // The old key no longer speaks for the account; the new one does.
    expect((await client.post(client.kid!, '')).body.type).toBe(`${ERR}unauthorized`);
    const renamed = new RawClient(next, 'ES256', 0, openProfileSlug);
    renamed.kid = client.kid;
    expect((await renamed.post(renamed.kid!, '')).body.status).toBe('valid');

    const order = await renamed.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `deact.${DOMAIN}` }] });
    const deactivated = await renamed.post(order.body.authorizations[0], { status: 'deactivated' });
    expect(deactivated.body.status).toBe('deactivated');
    expect((await renamed.post(order.headers.get('location')!, '')).body.status).toBe('invalid');
    const gone = await renamed.post(renamed.kid!, { status: 'deactivated' });
    expect(gone.body.status).toBe('deactivated');
    expect((await renamed.post(dir.newOrder, { identifiers: [{ type: 'dns', value: `after.${DOMAIN}` }] })).body.type).toBe(`${ERR}unauthorized`);
    // Each change is in the audit log, with the account as actor.
    const accountId = client.kid!.split('/').pop();
    const events = (await db.query(`SELECT event_type, actor_type FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [accountId])).rows;
    expect(events).toEqual(['acme.account.create', 'acme.account.keyChange', 'acme.account.deactivate'].map((event_type) => ({ event_type, actor_type: 'acmeAccount' })));
  });
});

/** RFC 7638: the required members in lexicographic order. */
function sortedJwk(jwk: Record<string, unknown>): Record<string, unknown> {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'OKP' ? ['crv', 'kty', 'x'] : ['e', 'kty', 'n'];
  return Object.fromEntries(members.map((m) => [m, jwk[m]]));
}

/** The keyIdentifier of a certificate's AuthorityKeyIdentifier extension, read from its DER. */
function akiOf(certificate: X509Certificate): Buffer {
  const der = certificate.raw;
  // 2.5.29.35 as DER OID bytes, then the extension's OCTET STRING holding SEQUENCE { [0] keyIdentifier }.
  const at = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]));
  let i = at + 5;
  if (der[i] === 0x01) i += 3; // critical BOOLEAN
  i += 2; // OCTET STRING tag and short length
  i += 2; // SEQUENCE tag and short length
  if (der[i] !== 0x80) throw new Error('no keyIdentifier in the AKI');
  return der.subarray(i + 2, i + 2 + der[i + 1]);
}
