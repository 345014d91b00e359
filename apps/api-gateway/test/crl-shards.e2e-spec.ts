/**
 * Sharded CRLs (issue 17, RFC 5280 5.2.5), as Let's Encrypt runs them, judged by openssl and by the
 * byte-for-byte match relying parties such as Go make between a certificate's CRL distribution point and
 * a CRL's IssuingDistributionPoint: each leaf of a sharded CA names its shard (by serial), each shard is a
 * CRL of its own with a critical IDP and its own number, a revocation re-signs only its shard, the full
 * CRL still lists everything, and changing crlShards keeps every shard a certificate names published.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { children, content, encoding, readDer, readOid } from '@signet/pki';
import { RunningService, freePort, spawnService, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import request from 'supertest';
import { bearer, createOrg, opensslWorkspace, startGateway, until } from './support';

const { openssl, file } = opensslWorkspace('signet-crl-shards-');
/** This suite's own queue prefix: its sweeps must not meet another suite's signers. */
const QUEUE_PREFIX = `${process.env.QUEUE_PREFIX}-crlshards`;

/** The shard Signet assigns: the serial's last 32 bits modulo the count (libs/pki crlShardOf), recomputed here. */
const shardOf = (serial: string, shards: number) => Number.parseInt(serial.slice(-8), 16) % shards;

/** The DER of extension `oid`'s extnValue content, and whether it is critical, from a list of Extension. */
function extension(extensions: ReturnType<typeof readDer>, oid: string): { critical: boolean; value: Buffer } | null {
  for (const ext of children(extensions)) {
    const parts = children(ext);
    if (readOid(parts[0]) === oid) return { critical: parts.length === 3 && content(parts[1])[0] === 0xff, value: Buffer.from(content(parts[parts.length - 1])) };
  }
  return null;
}
/** The distributionPoint [0] field of a certificate's first CRLDistributionPoints entry, as encoded. */
function cdpName(certificateDer: Buffer): Buffer {
  const tbs = children(readDer(certificateDer))[0];
  const cdp = extension(children(children(tbs).find((n) => n.tag === 0xa3)!)[0], '2.5.29.31')!;
  return Buffer.from(encoding(children(children(readDer(cdp.value))[0])[0]));
}
/** A CRL's IssuingDistributionPoint: its distributionPoint [0] field as encoded, the other fields, and criticality. */
function idpOf(crlDer: Buffer): { critical: boolean; name: Buffer; onlyUser: boolean } | null {
  const tbs = children(readDer(crlDer))[0];
  const idp = extension(children(children(tbs).find((n) => n.tag === 0xa0)!)[0], '2.5.29.28');
  if (!idp) return null;
  const fields = children(readDer(idp.value));
  const onlyUser = fields.find((f) => f.tag === 0x81);
  return { critical: idp.critical, name: Buffer.from(encoding(fields[0])), onlyUser: !!onlyUser && content(onlyUser)[0] === 0xff };
}
const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

describe('sharded CRLs', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let base: string;
  let adminKey: string;
  let rootId: string;
  let ca: { id: string; crlShards: number; crlShardUrls: string[]; crlUrl: string };
  let db: Client;

  const api = () => ({
    get: (path: string) => request(http).get(path).set(bearer(adminKey)),
    post: (path: string, body: object = {}) => request(http).post(path).set(bearer(adminKey)).send(body),
    patch: (path: string, body: object = {}) => request(http).patch(path).set(bearer(adminKey)).send(body),
  });
  const issue = async (commonName: string) => (await api().post('/api/v1/certificates', { caId: ca.id, commonName }).expect(201)).body.certificate;
  const shardInfo = async (shard: number) => (await api().get(`/api/v1/cas/${ca.id}/crl/${shard}?format=info&revokedLimit=10000`).expect(200)).body;
  const shardNumbers = async (count: number) => Promise.all(Array.from({ length: count }, async (_, k) => (await shardInfo(k)).crlNumber as number));
  const fetchDer = async (url: string) => {
    const res = await fetch(url.replace(/^https?:\/\/[^/]+/, base));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pkix-crl');
    return Buffer.from(await res.arrayBuffer());
  };
  /** Leaves until every one of `count` shards has at least `each`. */
  const leavesInEveryShard = async (count: number, each: number, prefix: string) => {
    const byShard = new Map<number, Array<{ id: string; serialNumber: string; certificatePem: string }>>();
    for (let i = 0; i < 200 && [...Array(count).keys()].some((k) => (byShard.get(k)?.length ?? 0) < each); i++) {
      const leaf = await issue(`${prefix}-${i}.shards.test`);
      const k = shardOf(leaf.serialNumber, count);
      byShard.set(k, [...(byShard.get(k) ?? []), leaf]);
    }
    return byShard;
  };

  beforeAll(async () => {
    const port = await freePort();
    signer = spawnService('signer', {
      ...testServiceEnv(),
      QUEUE_PREFIX,
      MASTER_KEY: randomBytes(32).toString('base64'),
      SIGNER_HEALTH_PORT: String(port),
      CRL_REBUILD_DELAY_MS: '300',
      // The full CRL of a sharded CA follows with the revocation sweep.
      REVOCATION_SWEEP_INTERVAL_MS: '1000',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, signer);
    gateway = await startGateway({ QUEUE_PREFIX, RATE_LIMIT_GENERAL: '100000', RATE_LIMIT_ISSUE: '100000' });
    await gateway.listen(0, '127.0.0.1');
    http = gateway.getHttpServer();
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    adminKey = (await createOrg(gateway, 'CRL shards org')).adminKey;
    rootId = (await api().post('/api/v1/cas', { name: 'Root', subject: { commonName: 'Shards Root' } }).expect(201)).body.ca.id;
    ca = (await api().post('/api/v1/cas', { name: 'Sharded', subject: { commonName: 'Sharded Issuing' }, parentCaId: rootId, crlShards: 4 }).expect(201)).body.ca;
    const chain = (await api().get(`/api/v1/cas/${ca.id}/chain`).expect(200)).body.chain;
    file('issuing.pem', chain[0]);
    file('root.pem', chain[1]);
    // The root's own full CRL, for -crl_check_all.
    file('root-crl.der', await fetchDer(`${base}/pki/cas/${rootId}/crl`));
    openssl('crl', '-inform', 'DER', '-in', 'root-crl.der', '-out', 'root-crl.pem');
  });
  afterAll(async () => {
    await gateway?.close();
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  it('refuses bad crlShards with 400 on create and PATCH; unknown shards are 404', async () => {
    for (const crlShards of [0, 257, -1, 1.5, '4', null, true, [4], 1e9]) {
      const res = await api().post('/api/v1/cas', { name: 'Bad', subject: { commonName: 'Bad shards' }, crlShards });
      expect([res.status, res.body.code]).toEqual([400, 'validation_failed']);
      const patched = await api().patch(`/api/v1/cas/${ca.id}`, { crlShards });
      expect([patched.status, patched.body.code]).toEqual([400, 'validation_failed']);
    }
    expect((await api().patch(`/api/v1/cas/${ca.id}`, {})).status).toBe(400);
    expect((await api().patch(`/api/v1/cas/${ca.id}`, { crlShards: 4, extra: 1 })).status).toBe(400);
    expect((await api().patch('/api/v1/cas/00000000-0000-4000-8000-000000000000', { crlShards: 2 })).status).toBe(404);
    for (const shard of ['4', '256', '-1', '01', 'x', '1e1', '99999999999999999999']) {
      const res = await fetch(`${base}/pki/cas/${ca.id}/crl/${shard}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('not_found');
      const info = await api().get(`/api/v1/cas/${ca.id}/crl/${shard}?format=info`);
      expect([shard, info.status, info.body.code]).toEqual([shard, 404, 'not_found']);
    }
    // The CA is unchanged by all of it.
    expect((await api().get(`/api/v1/cas/${ca.id}`).expect(200)).body.ca.crlShards).toBe(4);
  });

  it('shows crlShards and the shard URLs; every shard has its first CRL at creation, with a critical IDP naming it', async () => {
    expect(ca.crlShards).toBe(4);
    expect(ca.crlShardUrls).toEqual([0, 1, 2, 3].map((k) => `${ca.crlUrl}/${k}`));
    const root = (await api().get(`/api/v1/cas/${rootId}`).expect(200)).body.ca;
    expect([root.crlShards, root.crlShardUrls]).toEqual([1, []]);
    for (const [k, url] of ca.crlShardUrls.entries()) {
      const der = await fetchDer(url);
      const text = openssl('crl', '-inform', 'DER', '-in', file(`first-${k}.crl`, der), '-noout', '-text', '-CAfile', 'issuing.pem').out;
      expect(text).toContain('verify OK');
      // Its own number sequence (a sweep that saw the shard before its first CRL was stored may have built it twice).
      expect(Number(/X509v3 CRL Number:\s+(\d+)\n/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
      expect(text).toContain('X509v3 Issuing Distribution Point: critical');
      expect(text).toMatch(new RegExp(`URI:${url}\\s`));
      expect(text).toContain('Only User Certificates');
      expect(text).toContain('No Revoked Certificates.');
    }
    // The full CRL names no distribution point: it covers everything.
    expect(idpOf(await fetchDer(ca.crlUrl))).toBeNull();
    // The OpenAPI document shows the field and the public shard endpoint.
    const doc = (await request(http).get('/api/v1/openapi.json').expect(200)).body;
    expect(Object.keys(doc.components.schemas.CaView.properties)).toEqual(expect.arrayContaining(['crlShards', 'crlShardUrls']));
    expect(doc.paths['/pki/cas/{caId}/crl/{shard}']?.get).toBeDefined();
    expect(doc.paths['/api/v1/cas/{id}']?.patch).toBeDefined();
  });

  it("each leaf's CDP names its shard by serial, byte for byte the IDP of that shard's CRL", async () => {
    const byShard = await leavesInEveryShard(4, 1, 'cdp');
    for (const [k, leaves] of byShard) {
      const idp = idpOf(await fetchDer(ca.crlShardUrls[k]))!;
      expect(idp.critical).toBe(true);
      expect(idp.onlyUser).toBe(true);
      for (const leaf of leaves) {
        expect(cdpName(pemToDer(leaf.certificatePem)).equals(idp.name)).toBe(true);
        expect(openssl('x509', '-in', file(`cdp-${leaf.serialNumber}.pem`, leaf.certificatePem), '-noout', '-ext', 'crlDistributionPoints').out).toContain(`URI:${ca.crlShardUrls[k]}`);
        const { rows } = await db.query(`SELECT crl_shard FROM certificates WHERE id = $1`, [leaf.id]);
        expect(rows[0].crl_shard).toBe(k);
      }
    }
  });

  it("a revocation re-signs only its shard; openssl verify -crl_check with that shard: revoked fails, its neighbours pass, other shards' leaves find no CRL", async () => {
    const byShard = await leavesInEveryShard(4, 2, 'rev');
    const target = [...byShard.keys()].sort()[0];
    const [gone, neighbour] = byShard.get(target)!;
    const other = byShard.get((target + 1) % 4)![0];
    const before = await shardNumbers(4);

    await api().post(`/api/v1/certificates/${gone.id}/revoke`, { reason: 'keyCompromise' }).expect(200);
    const info = await until('the shard rebuilt', async () => {
      const now = await shardInfo(target);
      return now.crlNumber > before[target] && now.revokedSerials.includes(gone.serialNumber) && now;
    });
    expect(info).toMatchObject({ caId: ca.id, shard: target, revokedCount: 1, nextRevokedAfter: null });
    const after = await shardNumbers(4);
    for (let k = 0; k < 4; k++) if (k !== target) expect(after[k]).toBe(before[k]);

    const der = await fetchDer(ca.crlShardUrls[target]);
    file('shard.der', der);
    openssl('crl', '-inform', 'DER', '-in', 'shard.der', '-out', 'shard.pem');
    // The PEM of the API is the same CRL.
    expect((await api().get(`/api/v1/cas/${ca.id}/crl/${target}?format=pem`).expect(200)).text).toBe(openssl('crl', '-inform', 'DER', '-in', 'shard.der').out);
    const text = openssl('crl', '-in', 'shard.pem', '-noout', '-text', '-CAfile', 'issuing.pem').out;
    expect(text).toContain('verify OK');
    expect(text).toContain(`Serial Number: ${gone.serialNumber}`);
    expect(text).toContain('Key Compromise');
    expect(text.match(/Serial Number:/g)).toHaveLength(1);

    const verify = (name: string, pem: string) =>
      openssl('verify', '-crl_check', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem', '-CRLfile', 'shard.pem', file(name, pem));
    const revoked = verify('gone.pem', gone.certificatePem);
    expect(revoked.ok).toBe(false);
    expect(revoked.out).toMatch(/certificate revoked/);
    expect(verify('neighbour.pem', neighbour.certificatePem).out).toContain('neighbour.pem: OK');
    // openssl matches the IDP to the CDP: this shard's CRL is no CRL for a leaf of another shard.
    const elsewhere = verify('other.pem', other.certificatePem);
    expect(elsewhere.ok).toBe(false);
    expect(elsewhere.out).toMatch(/different CRL scope/);
    // With every CRL of the chain (the root's full CRL for the intermediate): still revoked, neighbours still fine.
    const all = (name: string) => openssl('verify', '-crl_check_all', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem', '-CRLfile', 'shard.pem', '-CRLfile', 'root-crl.pem', name);
    expect(all('gone.pem').out).toMatch(/certificate revoked/);
    expect(all('neighbour.pem').out).toContain('neighbour.pem: OK');
  });

  it('the full CRL lists the revoked leaves of every shard', async () => {
    const byShard = await leavesInEveryShard(4, 1, 'full');
    const revoked = [byShard.get(0)![0], byShard.get(1)![0], byShard.get(3)![0]];
    for (const leaf of revoked) await api().post(`/api/v1/certificates/${leaf.id}/revoke`, { reason: 'superseded' }).expect(200);
    // Everything revoked in this CA so far, whatever its shard, read from the full CRL's bytes (a revocation in
    // the second a build starts lands on the next build, which the sweep makes). The sweep schedules a CA's full
    // build at most once per clock minute (buildCrlSoon's job id), so the full CRL may trail by up to a minute.
    const { rows } = await db.query(`SELECT serial_number FROM certificates WHERE ca_id = $1 AND status = 'revoked'`, [ca.id]);
    const serials: string[] = rows.map((r) => r.serial_number);
    expect(serials).toEqual(expect.arrayContaining(revoked.map((leaf) => leaf.serialNumber)));
    const text = await until('the full CRL with all of them', async () => {
      const out = openssl('crl', '-inform', 'DER', '-in', file('full.der', await fetchDer(ca.crlUrl)), '-noout', '-text', '-CAfile', 'issuing.pem').out;
      return serials.every((serial) => out.includes(`Serial Number: ${serial}`)) && out;
    }, 120_000);
    expect(text).toContain('verify OK');
    expect(text).not.toContain('Issuing Distribution Point');
    expect(text.match(/Serial Number:/g)).toHaveLength(serials.length);
    const info = (await api().get(`/api/v1/cas/${ca.id}/crl?format=info&revokedLimit=10000`).expect(200)).body;
    expect(info.shard).toBeNull();
    expect(info.revokedSerials.sort()).toEqual([...serials].sort());
  }, 180_000);

  it('changing crlShards publishes new shards before answering and keeps the shards older leaves name', async () => {
    const old = await leavesInEveryShard(4, 1, 'old');
    const inShard3 = old.get(3)![0];

    const raised = (await api().patch(`/api/v1/cas/${ca.id}`, { crlShards: 6 }).expect(200)).body.ca;
    expect(raised.crlShards).toBe(6);
    expect(raised.crlShardUrls).toHaveLength(6);
    // Shards 4 and 5 answer at once: the leaves issued next may name them.
    for (const k of [4, 5]) expect(openssl('crl', '-inform', 'DER', '-in', file(`new-${k}.der`, await fetchDer(raised.crlShardUrls[k])), '-noout', '-text').out).toContain(`URI:${raised.crlShardUrls[k]}`);
    const newer = await issue('after-raise.shards.test');
    expect(cdpName(pemToDer(newer.certificatePem)).equals(idpOf(await fetchDer(raised.crlShardUrls[shardOf(newer.serialNumber, 6)]))!.name)).toBe(true);

    const lowered = (await api().patch(`/api/v1/cas/${ca.id}`, { crlShards: 2 }).expect(200)).body.ca;
    expect([lowered.crlShards, lowered.crlShardUrls]).toEqual([2, [`${ca.crlUrl}/0`, `${ca.crlUrl}/1`]]);
    // Shard 3 is no longer handed out, but an older leaf names it: it stays, and its revocation lands there.
    const before = (await shardInfo(3)).crlNumber;
    await api().post(`/api/v1/certificates/${inShard3.id}/revoke`, {}).expect(200);
    await until('shard 3 rebuilt', async () => {
      const info = await shardInfo(3);
      return info.crlNumber > before && info.revokedSerials.includes(inShard3.serialNumber);
    });
    const lowest = await issue('after-lower.shards.test');
    expect(openssl('x509', '-in', file('lowest.pem', lowest.certificatePem), '-noout', '-ext', 'crlDistributionPoints').out).toContain(`URI:${ca.crlUrl}/${shardOf(lowest.serialNumber, 2)}`);

    // The same count again changes nothing; each change is an audit event.
    await api().patch(`/api/v1/cas/${ca.id}`, { crlShards: 2 }).expect(200);
    const { rows } = await db.query(`SELECT details FROM audit_events WHERE event_type = 'ca.update' AND outcome = 'success' AND resource_id = $1 ORDER BY seq`, [ca.id]);
    expect(rows.map((r) => r.details)).toEqual([{ crlShards: 6, previousCrlShards: 4 }, { crlShards: 2, previousCrlShards: 6 }]);

    // Back to one: new leaves name the full CRL again; the shards stay for the leaves that name them.
    await api().patch(`/api/v1/cas/${ca.id}`, { crlShards: 1 }).expect(200);
    const unsharded = await issue('unsharded.shards.test');
    expect(openssl('x509', '-in', file('unsharded.pem', unsharded.certificatePem), '-noout', '-ext', 'crlDistributionPoints').out).toMatch(new RegExp(`URI:${ca.crlUrl}\\s*$`));
    expect((await db.query(`SELECT crl_shard FROM certificates WHERE id = $1`, [unsharded.id])).rows[0].crl_shard).toBeNull();
    for (const k of [0, 1, 2, 3, 4, 5]) expect((await fetch(`${base}/pki/cas/${ca.id}/crl/${k}`)).status).toBe(200);
  });
});
