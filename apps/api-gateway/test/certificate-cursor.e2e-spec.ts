import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { RunningService, stopService } from '@signet/testing';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway, startSigner } from './support';

/** Keyset paging of GET /api/v1/certificates: `cursor` / `nextCursor` beside `page` (docs/BENCHMARKS.md, inventory). */
describe('certificate list: keyset paging', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let caId: string;
  let otherCaId: string;

  type Listed = { id: string; commonName: string; validTo: string; createdAt: string; status: string };
  const list = (query: string, key = adminKey) => request(http).get(`/api/v1/certificates${query}`).set(bearer(key));

  /**
   * Issues `count` certificates in one batch: common names from a set of three and lifetimes from a set
   * of two, so every sort has ties (and a batch signs within the same second: validTo ties too).
   */
  async function issueSome(count: number, tag: string, ca = caId): Promise<string[]> {
    const items = Array.from({ length: count }, (_, i) => ({ caId: ca, commonName: `${['alpha', 'Bravo', 'charlie'][i % 3]}.cursor.test`, validityDays: i % 2 ? 30 : 60, notes: tag }));
    const res = await request(http).post('/api/v1/certificates/batch').set(bearer(adminKey)).send({ items }).expect(201);
    expect(res.body.failed).toBe(0);
    return res.body.certificates.map((c: { certificate: { id: string } }) => c.certificate.id);
  }

  /** Every page from the first by cursor, `between()` run after each page; the ids in order and the pages. */
  async function walk(query: string, pageSize: number, between: () => Promise<unknown> = async () => undefined, key = adminKey) {
    const ids: string[] = [];
    const pages: Listed[][] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { certificates: Listed[]; nextCursor: string | null; total: number | null } } = await list(`?${query}&pageSize=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`, key).expect(200);
      if (cursor) expect(res.body).toMatchObject({ total: null, page: null, totalPages: null, pageSize });
      else expect(res.body.total).toEqual(expect.any(Number));
      pages.push(res.body.certificates);
      ids.push(...res.body.certificates.map((c: Listed) => c.id));
      cursor = res.body.nextCursor;
      expect(pages.length).toBeLessThan(200);
      await between();
    } while (cursor);
    return { ids, pages, all: pages.flat() };
  }

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    adminKey = (await createOrg(gateway, 'Cursor org')).adminKey;
    const cas = (body: Record<string, unknown>) => request(http).post('/api/v1/cas').set(bearer(adminKey)).send(body).expect(201);
    caId = (await cas({ name: 'Cursor CA', subject: { commonName: 'Cursor CA' } })).body.ca.id;
    otherCaId = (await cas({ name: 'Other CA', subject: { commonName: 'Other Cursor CA' } })).body.ca.id;
    await issueSome(21, 'first');
    await issueSome(10, 'second');
    await issueSome(6, 'other', otherCaId);
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  const SORTS = ['createdAt', 'validTo', 'commonName'].flatMap((sortBy) => ['asc', 'desc'].map((sortOrder) => [sortBy, sortOrder]));

  it.each(SORTS)('walks sortBy=%s sortOrder=%s: the same rows in the same order as one big page, each once', async (sortBy, sortOrder) => {
    const query = `sortBy=${sortBy}&sortOrder=${sortOrder}`;
    const whole = (await list(`?${query}&pageSize=1000`).expect(200)).body;
    expect(whole.nextCursor).toBeNull();
    for (const pageSize of [1, 4, 7]) {
      const walked = await walk(query, pageSize);
      expect(walked.ids).toEqual(whole.certificates.map((c: Listed) => c.id));
      expect(walked.pages.slice(0, -1).every((page) => page.length === pageSize)).toBe(true);
    }
  });

  it('returns every row exactly once while certificates are issued and revoked during the walk', async () => {
    // New rows land at the end (createdAt asc), the start (createdAt desc, never seen) and in between (commonName).
    for (const [sortBy, sortOrder] of [['createdAt', 'asc'], ['createdAt', 'desc'], ['commonName', 'asc']]) {
      const query = `sortBy=${sortBy}&sortOrder=${sortOrder}`;
      const before = (await list(`?${query}&pageSize=1000`).expect(200)).body.certificates.map((c: Listed) => c.id);
      const added: string[] = [];
      const walked = await walk(query, 8, async () => added.push(...(await issueSome(2, `during ${sortBy} ${sortOrder}`))));
      // No row twice; every row there before the walk began (none is deleted); new rows at most once.
      expect(new Set(walked.ids).size).toBe(walked.ids.length);
      expect(before.filter((id: string) => !walked.ids.includes(id))).toEqual([]);
      expect(walked.ids.filter((id) => !before.includes(id) && !added.includes(id))).toEqual([]);
    }
    // A revocation between pages moves nothing in the sort: the walk of active ones still sees the rest once.
    const active = (await list('?status=active&pageSize=1000').expect(200)).body.certificates.map((c: Listed) => c.id);
    let revoked: string | undefined;
    const walked = await walk('status=active&sortBy=commonName', 10, async () => {
      if (revoked) return;
      revoked = active[active.length - 1];
      await request(http).post(`/api/v1/certificates/${revoked}/revoke`).set(bearer(adminKey)).send({ reason: 'superseded' }).expect(200);
    });
    expect(new Set(walked.ids).size).toBe(walked.ids.length);
    expect(walked.all.every((c) => c.status === 'active')).toBe(true);
    expect(active.filter((id: string) => id !== revoked && !walked.ids.includes(id))).toEqual([]);
  }, 180_000);

  it('keeps filters and permissions on every page; page mode also gives a cursor to go on with', async () => {
    const byCa = await walk(`caId=${otherCaId}&sortBy=validTo`, 4);
    expect(byCa.ids).toHaveLength(6);
    expect(byCa.all.every((c) => (c as unknown as { caId: string }).caId === otherCaId)).toBe(true);
    const searched = await walk('search=BRAVO.cursor&sortBy=createdAt&sortOrder=asc', 3);
    expect(searched.all.length).toBeGreaterThan(3);
    expect(searched.all.every((c) => c.commonName === 'Bravo.cursor.test')).toBe(true);

    const member = await createKey(gateway, adminKey, { name: 'other reader', role: 'member', permissions: { [otherCaId]: { read: true } } });
    expect((await walk('sortBy=commonName', 2, undefined, member.key)).ids.sort()).toEqual([...byCa.ids].sort());

    // Page 1 by number says where page 2 starts by cursor: the same rows as page=2.
    const first = (await list('?pageSize=5').expect(200)).body;
    expect(first).toMatchObject({ page: 1, pageSize: 5, total: expect.any(Number), nextCursor: expect.any(String) });
    const second = (await list(`?pageSize=5&cursor=${first.nextCursor}`).expect(200)).body;
    expect(second.certificates.map((c: Listed) => c.id)).toEqual((await list('?pageSize=5&page=2').expect(200)).body.certificates.map((c: Listed) => c.id));
    const last = (await list(`?pageSize=5&page=${first.totalPages}`).expect(200)).body;
    expect(last.nextCursor).toBeNull();
    // The last page counts its total from its own rows, a page past the end by counting: both exact.
    expect(last).toMatchObject({ total: first.total, totalPages: first.totalPages });
    expect(last.certificates.length).toBe(first.total - 5 * (first.totalPages - 1));
    expect((await list(`?pageSize=5&page=${first.totalPages + 3}`).expect(200)).body).toMatchObject({ certificates: [], total: first.total });
    // A name that matches a whole CA is counted in two disjoint parts (the CA's rows, the other matches): the same total.
    const ofOtherCa = (await list(`?caId=${otherCaId}&pageSize=2`).expect(200)).body.total;
    const byCaName = (await list('?search=other%20cursor%20ca&pageSize=2').expect(200)).body;
    expect([byCaName.total, byCaName.certificates.length]).toEqual([ofOtherCa, 2]);
    const one = first.certificates[0] as Listed & { serialNumber: string; fingerprintSha256: string };
    for (const search of [one.serialNumber, one.fingerprintSha256, one.fingerprintSha256.toUpperCase().match(/../g)!.join(':')]) {
      const found = (await list(`?search=${encodeURIComponent(search)}`).expect(200)).body;
      expect([found.total, found.certificates.map((c: Listed) => c.id)]).toEqual([1, [one.id]]);
    }
  });

  it('refuses garbage, edited and foreign cursors with 400 in the error shape', async () => {
    const first = (await list('?pageSize=2&sortBy=validTo').expect(200)).body;
    const cursor: string = first.nextCursor;
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    const encode = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
    const garbage = [
      'not a cursor', '%00%ff', '!!!!', 'x'.repeat(1025), encode('{"v":1'), encode([1, 2]), encode(null), encode({ ...decoded, v: 2 }),
      encode({ ...decoded, i: 'not-a-uuid' }), encode({ ...decoded, k: 'yesterday' }), encode({ ...decoded, k: 5 }), encode({ ...decoded, q: 'AAAAAAAAAAAAAAAA' }),
      encode({ ...decoded, k: "2026-01-01T00:00:00.000000Z' OR 1=1 --" }),
    ];
    for (const bad of garbage) {
      const res = await list(`?sortBy=validTo&cursor=${encodeURIComponent(bad)}`).expect(400);
      expectErrorShape(res.body, 'validation_failed', 400);
      expect(res.body.details.fields.map((f: { field: string }) => f.field)).toEqual(['cursor']);
    }
    // A cursor carried to another sort or other filters is refused; with page it is refused too.
    for (const other of ['sortBy=createdAt', 'sortBy=validTo&sortOrder=asc', 'sortBy=validTo&status=revoked', `sortBy=validTo&caId=${caId}`, 'sortBy=validTo&search=alpha']) {
      expectErrorShape((await list(`?${other}&cursor=${cursor}`).expect(400)).body, 'validation_failed', 400);
    }
    expectErrorShape((await list(`?sortBy=validTo&page=2&cursor=${cursor}`).expect(400)).body, 'validation_failed', 400);
    // The same cursor with another pageSize is fine: it says where, not how many.
    expect((await list(`?sortBy=validTo&pageSize=3&cursor=${cursor}`).expect(200)).body.certificates).toHaveLength(3);
    // An edited position inside the same query is no secret and no harm: the same query, starting elsewhere.
    const elsewhere = encode({ ...decoded, k: '1970-01-01T00:00:00.000000Z', i: '00000000-0000-0000-0000-000000000000' });
    expect((await list(`?sortBy=validTo&cursor=${elsewhere}`).expect(200)).body.certificates).toEqual([]);
  });
});
