/**
 * What the public PKI endpoints serve, read for speed: pre-signed OCSP responses from the Redis cache
 * (filled from PostgreSQL on a miss), CRLs and CA certificates from PostgreSQL with an in-process copy
 * that is checked against the CRL number on every request. Nothing here signs: the gateway holds no key.
 *
 * OCSP asks Redis on every request (one GET, autopipelined), so a revocation published by any signer
 * shows on every gateway process at once; what is kept in process is only what can be derived from the
 * bytes Redis returned (the decoded entry, its ETag and header strings), reused while the bytes are equal.
 */
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caCertificateDer, currentCrl, currentCrlHead, currentCrlNumber, ocspResponseToServe } from '@signet/persistence';
import {
  CertId, OCSP_MALFORMED_REQUEST, OCSP_TRY_LATER, OCSP_UNAUTHORIZED, OcspHash, allIssuerHashes, isPkiError, parseOcspGetPath, parseOcspRequest,
} from '@signet/pki';
import { OCSP_CACHE_TTL_MS, OcspCacheEntry, decodeOcspCacheEntry, encodeOcspCacheEntry, ocspCacheKey } from '@signet/queue';
import { REDIS, closeRedis, metricsRegistry } from '@signet/service';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';

/** A signed OCSP response with what its RFC 5019 caching headers need, computed once per response. */
export interface PreparedOcsp extends OcspCacheEntry {
  nextUpdateMs: number;
  etag: string;
  lastModified: string;
  expires: string;
}

export interface OcspAnswer {
  body: Buffer;
  /** Set for a successful (signed) answer: its times and validators, for the RFC 5019 caching headers. */
  signed?: PreparedOcsp;
}

export interface CrlInfo {
  caId: string;
  /** null: the full CRL. */
  shard: number | null;
  crlNumber: string;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
}

export interface StoredCrl extends CrlInfo {
  der: Buffer;
  etag: string;
  lastModified: string;
  expires: string;
}

export interface KnownCa {
  der: Buffer;
  hashes: IssuerHashes;
  etag: string;
}

type IssuerHashes = Record<OcspHash, { issuerNameHash: Buffer; issuerKeyHash: Buffer }>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A CA id as the caches know it: the lowercase UUID, whatever case the URL spelled it in (so `ABC...`
 * and `abc...` are one entry, read once); null for what is no UUID at all.
 */
const caIdOf = (id: string): string | null => (UUID.test(id) ? id.toLowerCase() : null);
/** Prepared OCSP answers kept per process (about 1 KB each); the oldest goes first. */
const OCSP_MEMO_ENTRIES = 10_000;

const crlReads = new Counter({
  name: 'signet_pki_crl_reads_total',
  help: 'CRLs read in full from PostgreSQL by this gateway process (single-flight: at most one per CA and CRL number at a time)',
  registers: [metricsRegistry],
});

@Injectable()
export class PkiStore implements OnModuleInit, OnApplicationShutdown {
  /** Per CA: its certificate and issuer hashes. A CA certificate never changes, so these never go stale. */
  private readonly cas = new Map<string, KnownCa>();
  /** CRLs by crlKey (CA id, and shard), least recently served first, holding at most `crlCacheMaxBytes` of DER. */
  private readonly crls = new Map<string, StoredCrl>();
  private crlBytes = 0;
  private readonly crlCacheMaxBytes: number;
  /** Reads in flight, by `crlKey:crlNumber`: requests for the same new CRL wait for one read. */
  private readonly crlLoads = new Map<string, Promise<StoredCrl | null>>();
  /** By serial: the Redis value last seen (a private copy) and what was prepared from it. */
  private readonly ocspMemo = new Map<string, { raw: Buffer; entry: PreparedOcsp }>();
  /** OCSP lookups get their own connection with auto-pipelining: the GETs of one event-loop turn go in one write. */
  private readonly ocspRedis: Redis;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.crlCacheMaxBytes = config.CRL_CACHE_MAX_BYTES;
    // No offline queue and one retry: with Redis down a lookup fails over to PostgreSQL at once instead of
    // waiting for a reconnect.
    this.ocspRedis = redis.duplicate({ enableAutoPipelining: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectionName: 'api-gateway-ocsp' });
    this.ocspRedis.on('error', () => undefined);
  }

  /**
   * Wait (briefly) for the OCSP connection: without an offline queue, lookups before it is ready would
   * all go to PostgreSQL. A gateway whose Redis is down still starts, and answers from PostgreSQL.
   */
  async onModuleInit(): Promise<void> {
    if (this.ocspRedis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.ocspRedis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 2000);
      this.ocspRedis.once('ready', done);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.ocspRedis);
  }

  /** The OCSP answer for a DER request (POST) or the GET path's last part. Never throws for bad input. */
  async ocsp(request: Buffer | string): Promise<OcspAnswer> {
    let certId: CertId;
    try {
      certId = (typeof request === 'string' ? parseOcspGetPath(request) : parseOcspRequest(request)).certIds[0];
    } catch (error) {
      if (isPkiError(error)) return { body: OCSP_MALFORMED_REQUEST };
      throw error;
    }
    const entry = await this.ocspEntry(certId.serialNumber);
    if (!entry) return { body: OCSP_UNAUTHORIZED };
    // The map first: a known CA (nearly always) then costs no await on this hot path.
    const ca = this.cas.get(entry.caId) ?? (await this.ca(entry.caId));
    const expected = ca?.hashes[certId.hashAlgorithm];
    // The serial is only ours if the request names the CA that issued it.
    if (!expected || !expected.issuerNameHash.equals(certId.issuerNameHash) || !expected.issuerKeyHash.equals(certId.issuerKeyHash)) {
      return { body: OCSP_UNAUTHORIZED };
    }
    if (entry.nextUpdateMs <= Date.now()) return { body: OCSP_TRY_LATER };
    return { body: entry.der, signed: entry };
  }

  /** Redis first; on a miss PostgreSQL, then SET NX so a fill never replaces what a signer wrote since. */
  private async ocspEntry(serialNumber: string): Promise<PreparedOcsp | null> {
    const key = ocspCacheKey(this.config.QUEUE_PREFIX, serialNumber);
    const cached = await this.ocspRedis.getBuffer(key).catch(() => null);
    if (cached) return this.prepared(serialNumber, cached);
    const entry: OcspCacheEntry | null = await ocspResponseToServe(this.dataSource.manager, serialNumber);
    if (!entry) return null;
    const ttl = Math.min(OCSP_CACHE_TTL_MS, entry.nextUpdate.getTime() - Date.now());
    if (ttl > 0) await this.ocspRedis.set(key, encodeOcspCacheEntry(entry), 'PX', ttl, 'NX').catch(() => undefined);
    return prepareOcsp(entry);
  }

  /** What was prepared from these very bytes before, else prepared now and remembered. */
  private prepared(serialNumber: string, cached: Buffer): PreparedOcsp | null {
    const known = this.ocspMemo.get(serialNumber);
    if (known && known.raw.equals(cached)) return known.entry;
    // A copy: ioredis hands out slices of its socket buffer, which a kept slice would pin.
    const raw = Buffer.from(cached);
    const decoded = decodeOcspCacheEntry(raw);
    if (!decoded) return null;
    const entry = prepareOcsp(decoded);
    this.ocspMemo.delete(serialNumber);
    if (this.ocspMemo.size >= OCSP_MEMO_ENTRIES) this.ocspMemo.delete(this.ocspMemo.keys().next().value as string);
    this.ocspMemo.set(serialNumber, { raw, entry });
    return entry;
  }

  /** A CA's certificate (DER), issuer hashes and ETag; null for an unknown id. Kept only for CAs that exist: as many entries as CAs. */
  async ca(id: string): Promise<KnownCa | null> {
    const caId = caIdOf(id);
    if (!caId) return null;
    const known = this.cas.get(caId);
    if (known) return known;
    const der = await caCertificateDer(this.dataSource.manager, caId);
    if (!der) return null;
    const ca = { der, hashes: allIssuerHashes(der), etag: etagOf(der) };
    this.cas.set(caId, ca);
    return ca;
  }

  /** The current full (or shard) CRL's numbers and times, without its bytes (null before the first CRL, or for a shard that never had one). */
  async crlInfo(id: string, shard: number | null = null): Promise<CrlInfo | null> {
    const caId = caIdOf(id);
    if (!caId) return null;
    const head = await currentCrlHead(this.dataSource.manager, caId, shard);
    return head ? { caId, shard, ...head } : null;
  }

  /**
   * The CA's current full CRL, or one shard's. Every request asks PostgreSQL for the current CRL number (a
   * one-row index read); the bytes are read only when it moved, once per process however many requests
   * ask meanwhile.
   */
  async crl(id: string, shard: number | null = null): Promise<StoredCrl | null> {
    const caId = caIdOf(id);
    if (!caId) return null;
    const crlNumber = await currentCrlNumber(this.dataSource.manager, caId, shard);
    if (crlNumber === null) return null;
    const key = crlKey(caId, shard);
    const known = this.crls.get(key);
    if (known && known.crlNumber === crlNumber) {
      this.crls.delete(key);
      this.crls.set(key, known);
      return known;
    }
    const flight = `${key}:${crlNumber}`;
    let load = this.crlLoads.get(flight);
    if (!load) {
      load = this.readCrl(caId, shard).finally(() => this.crlLoads.delete(flight));
      this.crlLoads.set(flight, load);
    }
    return load;
  }

  /** CA certificates held (one entry per CA asked for that exists, however its id was spelled). */
  caCacheUsage(): { entries: number } {
    return { entries: this.cas.size };
  }

  /** CRL sizes: the cache's bound and what it holds now. */
  crlCacheUsage(): { maxBytes: number; bytes: number; entries: number } {
    return { maxBytes: this.crlCacheMaxBytes, bytes: this.crlBytes, entries: this.crls.size };
  }

  /** One full read (currentCrl), kept for the next requests. */
  private async readCrl(caId: string, shard: number | null): Promise<StoredCrl | null> {
    crlReads.inc();
    const row = await currentCrl(this.dataSource.manager, caId, shard);
    if (!row) return null;
    const crl: StoredCrl = {
      caId, shard, ...row, etag: `"crl-${shard === null ? '' : `${shard}-`}${row.crlNumber}"`, lastModified: row.thisUpdate.toUTCString(), expires: row.nextUpdate.toUTCString(),
    };
    this.keepCrl(crl);
    return crl;
  }

  private keepCrl(crl: StoredCrl): void {
    const key = crlKey(crl.caId, crl.shard);
    const old = this.crls.get(key);
    if (old && BigInt(old.crlNumber) > BigInt(crl.crlNumber)) return;
    if (old) {
      this.crls.delete(key);
      this.crlBytes -= old.der.length;
    }
    if (crl.der.length > this.crlCacheMaxBytes) return;
    for (const [oldestKey, oldest] of this.crls) {
      if (this.crlBytes + crl.der.length <= this.crlCacheMaxBytes) break;
      this.crls.delete(oldestKey);
      this.crlBytes -= oldest.der.length;
    }
    this.crls.set(key, crl);
    this.crlBytes += crl.der.length;
  }
}

/** The cache key of a CA's full CRL (its id) or of one shard's (`id/shard`). */
const crlKey = (caId: string, shard: number | null): string => (shard === null ? caId : `${caId}/${shard}`);

/** A strong validator for bytes that are served as they are. */
export const etagOf = (der: Buffer): string => `"${createHash('sha1').update(der).digest('base64url')}"`;

function prepareOcsp(entry: OcspCacheEntry): PreparedOcsp {
  return {
    ...entry,
    nextUpdateMs: entry.nextUpdate.getTime(),
    etag: etagOf(entry.der),
    lastModified: entry.thisUpdate.toUTCString(),
    expires: entry.nextUpdate.toUTCString(),
  };
}
