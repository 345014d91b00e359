/**
 * PkiStore's in-process caches against this run's PostgreSQL and Redis: CRL reads are single-flight and
 * bounded by bytes (CRL_CACHE_MAX_BYTES), `crlInfo` (format=info) never reads the DER, OCSP answers are
 * kept in process only while the store hears the signers' change announcements, dropped and acknowledged
 * when one names them, and prepared again only when Redis returns other bytes. The rows PkiStore reads are written here with SQL; its
 * queries are watched with a spy that calls through to the real DataSource.
 * (The real bytes, judged by openssl through the HTTP endpoints, are in revocation.e2e-spec.ts.)
 */
import { createDataSourceOptions } from '@signet/persistence';
import { encodeOcspCacheEntry, encodeOcspChange, ocspAcksChannel, ocspCacheKey, ocspChangesChannel } from '@signet/queue';
import { closeRedis, createRedis } from '@signet/service';
import type Redis from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { OCSP_KEEP_MS, PkiStore, PreparedOcsp } from '../src/app/pki/pki-store';
import { testGatewayConfig } from './support';

const THIS_UPDATE = new Date('2025-01-01T00:00:00.000Z');
const NEXT_UPDATE = new Date('2099-01-01T00:00:00.000Z');
/** Under this run's prefix (the global teardown clears it too). */
const QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'signet-test'}-pki-store`;

/** A read of the crls table (the store's; this file's own statements there are writes). */
const readsCrls = (sql: string) => /^\s*SELECT\b/i.test(sql) && /\bFROM crls\b/.test(sql);
/** One that reads a CRL's bytes (the full read), as opposed to its number or times. */
const readsCrlDer = (sql: string) => readsCrls(sql) && /\bder\b/.test(sql);

describe('PkiStore on PostgreSQL and Redis', () => {
  let dataSource: DataSource;
  let redis: Redis;
  const orgId = randomUUID();
  const caIds: string[] = [];
  const redisKeys: string[] = [];
  const stores: PkiStore[] = [];

  beforeAll(async () => {
    dataSource = new DataSource(
      createDataSourceOptions(process.env.DATABASE_URL as string, { poolSize: 4, applicationName: 'signet-test-pki-store' }),
    );
    await dataSource.initialize();
    redis = createRedis(process.env.REDIS_URL as string, 'signet-test-pki-store');
    await dataSource.query(`INSERT INTO orgs (id, name, slug) VALUES ($1, 'PkiStore test', $2)`, [orgId, `pki-store-${randomBytes(4).toString('hex')}`]);
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.onApplicationShutdown()));
    if (dataSource?.isInitialized) {
      await dataSource.query(`DELETE FROM ocsp_responses WHERE ca_id = ANY($1::uuid[])`, [caIds]);
      await dataSource.query(`DELETE FROM crls WHERE ca_id = ANY($1::uuid[])`, [caIds]);
      await dataSource.query(`DELETE FROM cas WHERE id = ANY($1::uuid[])`, [caIds]);
      await dataSource.query(`DELETE FROM orgs WHERE id = $1`, [orgId]);
      await dataSource.destroy();
    }
    if (redis) {
      if (redisKeys.length) await redis.del(...redisKeys);
      await closeRedis(redis);
    }
  });

  /** A store with its own caches, on the shared connections, initialised as Nest would. */
  async function newStore(crlCacheMaxBytes: number): Promise<PkiStore> {
    const config = testGatewayConfig({ QUEUE_PREFIX, CRL_CACHE_MAX_BYTES: String(crlCacheMaxBytes) });
    const store = new PkiStore(dataSource, redis, config);
    stores.push(store);
    await store.onModuleInit();
    return store;
  }

  /**
   * A CA row. Its certificate and key are random bytes (PkiStore's CRL and OCSP-cache paths never parse
   * them); passphrase-protected and expired, so the signer sweeps of other suites sharing this database
   * never pick it (they skip such CAs) and never try to sign a CRL or OCSP response for it.
   */
  async function newCa(): Promise<string> {
    const id = randomUUID();
    caIds.push(id);
    await dataSource.query(
      `INSERT INTO cas (id, org_id, name, type, depth, subject, common_name, key_algorithm, serial_number, fingerprint_sha256,
                        key_hash_sha1, certificate_der, encrypted_key, has_passphrase, valid_from, valid_to)
       VALUES ($1, $2, 'PkiStore test', 'root', 0, '{"commonName":"PkiStore test"}', 'PkiStore test', 'ec-p256', $3, $4,
               $5, $6, $7, true, now() - interval '2 days', now() - interval '1 day')`,
      [id, orgId, randomBytes(8).toString('hex').toUpperCase(), randomBytes(32).toString('hex'), randomBytes(20), randomBytes(64), randomBytes(64)],
    );
    return id;
  }

  /** The CA's current CRL, as the signer's CRL builder leaves it: one row per CA, replaced by the next. */
  async function setCrl(caId: string, crlNumber: number, der: Buffer, revokedCount = 1): Promise<void> {
    await dataSource.query(
      `INSERT INTO crls (ca_id, crl_number, this_update, next_update, revoked_count, der) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (ca_id) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
         next_update = excluded.next_update, revoked_count = excluded.revoked_count, der = excluded.der, updated_at = now()`,
      [caId, crlNumber, THIS_UPDATE, NEXT_UPDATE, revokedCount, der],
    );
  }

  /** Watches every statement the store sends (calling through); returns how many read a CRL's DER. */
  function watchQueries(): { sql: () => string[]; crlReads: () => number } {
    const spy = jest.spyOn(dataSource, 'query');
    const sql = () => spy.mock.calls.map(([text]) => text);
    return { sql, crlReads: () => sql().filter(readsCrlDer).length };
  }

  it('reads a new CRL once for all the requests that ask while it is being read', async () => {
    const ca = await newCa();
    await setCrl(ca, 7, Buffer.alloc(100, 7));
    const store = await newStore(1024);
    const requests = 20;

    // Every request first asks PostgreSQL for the current CRL number. The full read (still a real query)
    // starts only once all of them have their answer, so each one finds the read in flight, none the cache.
    const query = dataSource.query.bind(dataSource);
    let numbersRead = 0;
    let allAsked: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => (allAsked = resolve));
    const spy = jest.spyOn(dataSource, 'query').mockImplementation(async (sql: string, parameters?: unknown[]) => {
      if (readsCrlDer(sql)) await asked;
      const rows = await query(sql, parameters);
      if (readsCrls(sql) && !readsCrlDer(sql) && ++numbersRead === requests) allAsked();
      return rows;
    });
    const crlReads = () => spy.mock.calls.filter(([sql]) => readsCrlDer(sql)).length;

    const crls = await Promise.all(Array.from({ length: requests }, () => store.crl(ca)));
    expect(numbersRead).toBe(requests);
    expect(crlReads()).toBe(1);
    expect(new Set(crls).size).toBe(1);
    expect(crls[0]).toMatchObject({
      caId: ca, crlNumber: '7', etag: '"crl-7"', der: Buffer.alloc(100, 7), revokedCount: 1,
      thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, lastModified: THIS_UPDATE.toUTCString(), expires: NEXT_UPDATE.toUTCString(),
    });

    // Same number: the kept copy. A new number (the next build): one more read.
    expect(await store.crl(ca)).toBe(crls[0]);
    expect(crlReads()).toBe(1);
    await setCrl(ca, 8, Buffer.alloc(50, 8));
    expect(await store.crl(ca)).toMatchObject({ crlNumber: '8', der: Buffer.alloc(50, 8) });
    expect(crlReads()).toBe(2);
    expect(store.crlCacheUsage()).toEqual({ maxBytes: 1024, bytes: 50, entries: 1 });
  });

  it('keeps at most CRL_CACHE_MAX_BYTES, least recently served out first; a larger CRL is served but not kept', async () => {
    const cas = [await newCa(), await newCa(), await newCa()];
    for (const [i, ca] of cas.entries()) await setCrl(ca, 1, Buffer.alloc(40, i + 1));
    const store = await newStore(100);
    const db = watchQueries();

    await store.crl(cas[0]);
    await store.crl(cas[1]);
    await store.crl(cas[0]); // now cas[1] is the least recently served
    await store.crl(cas[2]);
    expect(db.crlReads()).toBe(3);
    expect(store.crlCacheUsage()).toEqual({ maxBytes: 100, bytes: 80, entries: 2 });
    await store.crl(cas[0]);
    await store.crl(cas[2]);
    expect(db.crlReads()).toBe(3);
    expect(await store.crl(cas[1])).toMatchObject({ der: Buffer.alloc(40, 2) });
    expect(db.crlReads()).toBe(4);
    expect(store.crlCacheUsage()).toEqual({ maxBytes: 100, bytes: 80, entries: 2 });

    // Larger than the bound: served whole every time, read every time, never kept.
    await setCrl(cas[0], 2, Buffer.alloc(101, 9));
    expect(await store.crl(cas[0])).toMatchObject({ crlNumber: '2', der: Buffer.alloc(101, 9) });
    expect(await store.crl(cas[0])).toMatchObject({ crlNumber: '2', der: Buffer.alloc(101, 9) });
    expect(db.crlReads()).toBe(6);
    const usage = store.crlCacheUsage();
    expect(usage.bytes).toBeLessThanOrEqual(100);
    expect(usage.entries).toBe(usage.bytes / 40);
  });

  it('answers crlInfo (format=info) without reading the DER', async () => {
    const ca = await newCa();
    await setCrl(ca, 12, Buffer.alloc(10), 3);
    const store = await newStore(1024);
    const db = watchQueries();

    expect(await store.crlInfo(ca)).toEqual({ caId: ca, shard: null, crlNumber: '12', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, revokedCount: 3 });
    expect(await store.crlInfo(randomUUID())).toBeNull();
    expect(await store.crlInfo('not-a-uuid')).toBeNull();
    expect(db.sql()).toHaveLength(2);
    expect(db.sql().some((sql) => /\bder\b/.test(sql))).toBe(false);
    expect(store.crlCacheUsage()).toEqual({ maxBytes: 1024, bytes: 0, entries: 0 });
  });

  /** Until the store has subscribed to the change announcements (or has lost its subscription). */
  async function untilListening(store: PkiStore, listening = true): Promise<void> {
    const deadline = Date.now() + 5000;
    while (store.ocspCacheUsage().listening !== listening) {
      if (Date.now() > deadline) throw new Error(`the store never became ${listening ? '' : 'not '}listening`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** As a signer announces a revocation: publish the serials, wait for every receiver's acknowledgement. */
  async function announce(serialNumbers: string[]): Promise<number> {
    const acks = redis.duplicate();
    await acks.subscribe(ocspAcksChannel(QUEUE_PREFIX));
    const token = randomUUID();
    let acknowledged = 0;
    let receivers = Infinity;
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    acks.on('message', (_channel: string, message: string) => {
      if (message === token && ++acknowledged >= receivers) done();
    });
    receivers = await redis.publish(ocspChangesChannel(QUEUE_PREFIX), encodeOcspChange({ token, serialNumbers }));
    if (acknowledged >= receivers) done();
    await all;
    await closeRedis(acks);
    return receivers;
  }

  /** A listening store, a CA, a serial with its cache key, a cache value maker and the store's lookup. */
  async function ocspFixture() {
    const ca = await newCa();
    const store = await newStore(1024);
    await untilListening(store);
    const serial = randomBytes(8).toString('hex').toUpperCase();
    const key = ocspCacheKey(QUEUE_PREFIX, serial);
    redisKeys.push(key);
    const entry = (der: string | Buffer) => encodeOcspCacheEntry({ caId: ca, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, der: Buffer.from(der) });
    const lookup = (s: string) => (store as unknown as { ocspEntry(s: string): Promise<PreparedOcsp | null> }).ocspEntry(s);
    return { ca, store, serial, key, entry, lookup };
  }

  it('keeps an OCSP answer while it hears the announcements: a change is seen once announced and acknowledged, and from Redis while not listening', async () => {
    const { ca, store, serial, key, entry, lookup } = await ocspFixture();
    const redisReads = jest.spyOn((store as unknown as { ocspRedis: Redis }).ocspRedis, 'getBuffer');

    await redis.set(key, entry('good'));
    const good = await lookup(serial);
    expect(good).toMatchObject({ der: Buffer.from('good') });
    expect(redisReads).toHaveBeenCalledTimes(1);
    // Kept: served without Redis, even when Redis says otherwise behind its back (nobody announced it).
    await redis.set(key, entry('unannounced'));
    for (let i = 0; i < 5; i++) expect(await lookup(serial)).toBe(good);
    expect(redisReads).toHaveBeenCalledTimes(1);
    expect(store.ocspCacheUsage()).toEqual({ entries: 1, listening: true });

    // A signer's revocation: once every receiver (this store among them) acknowledged, the new answer is served.
    await redis.set(key, entry('revoked'));
    expect(await announce([serial])).toBeGreaterThanOrEqual(1);
    const revoked = await lookup(serial);
    expect(revoked).toMatchObject({ der: Buffer.from('revoked') });
    expect(await lookup(serial)).toBe(revoked);
    expect(redisReads).toHaveBeenCalledTimes(2);

    // Trusted for OCSP_KEEP_MS at most (a lost refresh announcement costs no more): then Redis is asked again.
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + OCSP_KEEP_MS + 1);
    expect(await lookup(serial)).toBe(revoked);
    expect(redisReads).toHaveBeenCalledTimes(3);
    jest.spyOn(Date, 'now').mockRestore();

    // The subscription lost: everything kept is forgotten and every lookup asks Redis until it is back.
    const changes = (store as unknown as { ocspChanges: Redis }).ocspChanges;
    changes.disconnect();
    await untilListening(store, false);
    expect(store.ocspCacheUsage()).toEqual({ entries: 0, listening: false });
    await redis.set(key, entry('while deaf'));
    expect(await lookup(serial)).toMatchObject({ der: Buffer.from('while deaf') });
    await redis.set(key, entry('still deaf'));
    expect(await lookup(serial)).toMatchObject({ der: Buffer.from('still deaf') });
    const readsWhileDeaf = redisReads.mock.calls.length;
    expect(readsWhileDeaf).toBe(5);
    await changes.connect();
    await untilListening(store);
    const heard = await lookup(serial);
    expect(await lookup(serial)).toBe(heard);
    expect(redisReads).toHaveBeenCalledTimes(readsWhileDeaf + 1);
  });

  it('does not trust what it read while a change was announced: the read may predate the change', async () => {
    const { ca, store, serial, key, entry, lookup } = await ocspFixture();
    await redis.set(key, entry('good'));

    // The GET answers `good`, but only after a revocation was written and announced (and acknowledged):
    // the answer in flight is served (it was asked before the revocation) but not kept.
    const ocspRedis = (store as unknown as { ocspRedis: Redis }).ocspRedis;
    const getBuffer = ocspRedis.getBuffer.bind(ocspRedis);
    jest.spyOn(ocspRedis, 'getBuffer').mockImplementationOnce(async (k: Parameters<Redis['getBuffer']>[0]) => {
      const stale = await getBuffer(k);
      await redis.set(key, entry('revoked'));
      await announce([serial]);
      return stale as Buffer;
    });
    expect(await lookup(serial)).toMatchObject({ der: Buffer.from('good') });
    expect(await lookup(serial)).toMatchObject({ der: Buffer.from('revoked') });
  });

  it('reuses what it prepared from an OCSP cache value only while Redis returns the same bytes', async () => {
    const { ca, store, serial, key, entry, lookup } = await ocspFixture();

    await redis.set(key, entry(Buffer.from('first')));
    const first = await lookup(serial);
    expect(first).toMatchObject({
      caId: ca, der: Buffer.from('first'), nextUpdateMs: NEXT_UPDATE.getTime(), lastModified: THIS_UPDATE.toUTCString(),
      expires: NEXT_UPDATE.toUTCString(), etag: expect.stringMatching(/^".+"$/),
    });
    // The same bytes written again and announced (a signer re-publishing them): the prepared answer is reused.
    await redis.set(key, entry(Buffer.from('first')));
    await announce([serial]);
    expect(await lookup(serial)).toBe(first);
    // Other bytes under the key, announced: prepared afresh.
    await redis.set(key, entry(Buffer.from('second')));
    await announce([serial]);
    const second = await lookup(serial);
    expect(second).toMatchObject({ der: Buffer.from('second') });
    expect(second?.etag).not.toBe(first?.etag);
    expect(await lookup(serial)).toBe(second);

    // A miss with no row in PostgreSQL: not ours. With a row: served from it, and Redis filled with it.
    await redis.del(key);
    await announce([serial]);
    expect(await lookup(serial)).toBeNull();
    expect(await redis.exists(key)).toBe(0);
    await dataSource.query(
      `INSERT INTO ocsp_responses (serial_number, ca_id, subject_ca_id, status, der, this_update, next_update)
       VALUES ($1, $2, $2, 'good', $3, $4, $5)`,
      [serial, ca, Buffer.from('third'), THIS_UPDATE, NEXT_UPDATE],
    );
    const fromDatabase = await lookup(serial);
    expect(fromDatabase).toMatchObject({ caId: ca, der: Buffer.from('third'), lastModified: THIS_UPDATE.toUTCString() });
    expect(await redis.getBuffer(key)).toEqual(entry(Buffer.from('third')));
    const third = await lookup(serial);
    expect(third).toMatchObject({ der: Buffer.from('third'), etag: fromDatabase?.etag });
    expect(await lookup(serial)).toBe(third);
    expect(third).not.toBe(second);
  });
});
