/**
 * PkiStore's in-process caches against a scripted database and Redis: CRL reads are single-flight and
 * bounded by bytes, `crlInfo` never reads the DER, prepared OCSP answers are reused only for equal bytes.
 * (The real bytes, judged by openssl, are in test/revocation.e2e-spec.ts.)
 */
import { encodeOcspCacheEntry } from '@signet/queue';
import type Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import type { GatewayConfig } from '../gateway.config';
import { PkiStore } from './pki-store';

const CA = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

interface Row {
  n: string;
  der: Buffer;
}

function harness(maxBytes: number) {
  const rows = new Map<string, Row>();
  const sql: string[] = [];
  let release: (() => void) | null = null;
  let gate: Promise<void> | null = null;
  const query = jest.fn(async (text: string, [caId]: [string]) => {
    sql.push(text);
    const row = rows.get(caId);
    if (/encode\(der/.test(text)) {
      if (gate) await gate;
      return row ? [{ n: row.n, this_update: new Date(0), next_update: new Date(86_400_000), revoked_count: 1, der: row.der.toString('base64') }] : [];
    }
    if (/revoked_count/.test(text)) return row ? [{ n: row.n, this_update: new Date(0), next_update: new Date(86_400_000), revoked_count: 1 }] : [];
    if (/FROM crls/.test(text)) return row ? [{ n: row.n }] : [];
    if (/FROM ocsp_responses/.test(text)) return [];
    throw new Error(`unexpected query ${text}`);
  });
  const redisValues = new Map<string, Buffer>();
  const ocspRedis = { on: () => ocspRedis, getBuffer: async (key: string) => redisValues.get(key) ?? null, set: async () => 'OK', status: 'end', disconnect: () => undefined };
  const previous = process.env.CRL_CACHE_MAX_BYTES;
  process.env.CRL_CACHE_MAX_BYTES = String(maxBytes);
  const store = new PkiStore(
    { query } as unknown as DataSource,
    { duplicate: () => ocspRedis } as unknown as Redis,
    { QUEUE_PREFIX: 'unit' } as GatewayConfig,
  );
  if (previous === undefined) delete process.env.CRL_CACHE_MAX_BYTES;
  else process.env.CRL_CACHE_MAX_BYTES = previous;
  return {
    store,
    rows,
    redisValues,
    fullReads: () => sql.filter((s) => /encode\(der/.test(s)).length,
    sql,
    hold: () => {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => {
      gate = null;
      release?.();
    },
  };
}

describe('PkiStore', () => {
  it('reads a new CRL once for all the requests that ask while it is being read', async () => {
    const h = harness(1024);
    h.rows.set(CA[0], { n: '7', der: Buffer.alloc(100, 7) });
    h.hold();
    const pending = Array.from({ length: 20 }, () => h.store.crl(CA[0]));
    await new Promise((resolve) => setImmediate(resolve));
    h.release();
    const crls = await Promise.all(pending);
    expect(h.fullReads()).toBe(1);
    expect(new Set(crls).size).toBe(1);
    expect(crls[0]).toMatchObject({ crlNumber: '7', etag: '"crl-7"', der: Buffer.alloc(100, 7) });

    expect(await h.store.crl(CA[0])).toBe(crls[0]);
    expect(h.fullReads()).toBe(1);
    h.rows.set(CA[0], { n: '8', der: Buffer.alloc(50, 8) });
    expect((await h.store.crl(CA[0]))?.crlNumber).toBe('8');
    expect(h.fullReads()).toBe(2);
    expect(h.store.crlCacheUsage()).toEqual({ maxBytes: 1024, bytes: 50, entries: 1 });
  });

  it('keeps at most CRL_CACHE_MAX_BYTES, least recently served out first; a larger CRL is served but not kept', async () => {
    const h = harness(100);
    h.rows.set(CA[0], { n: '1', der: Buffer.alloc(40, 1) });
    h.rows.set(CA[1], { n: '1', der: Buffer.alloc(40, 2) });
    h.rows.set(CA[2], { n: '1', der: Buffer.alloc(40, 3) });
    await h.store.crl(CA[0]);
    await h.store.crl(CA[1]);
    await h.store.crl(CA[0]); // now CA[1] is the least recently served
    await h.store.crl(CA[2]);
    expect(h.store.crlCacheUsage()).toEqual({ maxBytes: 100, bytes: 80, entries: 2 });
    const reads = h.fullReads();
    await h.store.crl(CA[0]);
    await h.store.crl(CA[2]);
    expect(h.fullReads()).toBe(reads);
    await h.store.crl(CA[1]);
    expect(h.fullReads()).toBe(reads + 1);

    h.rows.set(CA[0], { n: '2', der: Buffer.alloc(101, 9) });
    expect((await h.store.crl(CA[0]))?.der.length).toBe(101);
    expect((await h.store.crl(CA[0]))?.der.length).toBe(101);
    expect(h.fullReads()).toBe(reads + 3);
    expect(h.store.crlCacheUsage().bytes).toBeLessThanOrEqual(100);
  });

  it('answers crlInfo without reading the DER', async () => {
    const h = harness(1024);
    h.rows.set(CA[0], { n: '12', der: Buffer.alloc(10) });
    expect(await h.store.crlInfo(CA[0])).toEqual({ caId: CA[0], crlNumber: '12', thisUpdate: new Date(0), nextUpdate: new Date(86_400_000), revokedCount: 1 });
    expect(await h.store.crlInfo(CA[1])).toBeNull();
    expect(await h.store.crlInfo('not-a-uuid')).toBeNull();
    expect(h.sql.some((s) => /\bder\b/.test(s))).toBe(false);
  });

  it('reuses what it prepared from an OCSP cache value only while Redis returns the same bytes', async () => {
    const h = harness(1024);
    const entry = (der: Buffer) => encodeOcspCacheEntry({ caId: CA[0], thisUpdate: new Date(1_000_000), nextUpdate: new Date(2_000_000_000_000), der });
    const lookup = (serial: string) => (h.store as unknown as { ocspEntry(s: string): Promise<unknown> }).ocspEntry(serial);
    h.redisValues.set('unit:ocsp:0A', entry(Buffer.from('first')));
    const first = await lookup('0A');
    expect(first).toMatchObject({ caId: CA[0], der: Buffer.from('first'), lastModified: new Date(1_000_000).toUTCString(), etag: expect.stringMatching(/^".+"$/) });
    h.redisValues.set('unit:ocsp:0A', entry(Buffer.from('first')));
    expect(await lookup('0A')).toBe(first);
    h.redisValues.set('unit:ocsp:0A', entry(Buffer.from('second')));
    const second = await lookup('0A');
    expect(second).toMatchObject({ der: Buffer.from('second') });
    expect((second as { etag: string }).etag).not.toBe((first as { etag: string }).etag);
    h.redisValues.delete('unit:ocsp:0A');
    expect(await lookup('0A')).toBeNull();
  });
});
