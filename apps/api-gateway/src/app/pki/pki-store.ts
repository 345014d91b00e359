/**
 * What the public PKI endpoints serve, read for speed: pre-signed OCSP responses from the Redis cache
 * (filled from PostgreSQL on a miss), CRLs and CA certificates from PostgreSQL with an in-process copy
 * that is checked against the CRL number on every request. Nothing here signs: the gateway holds no key.
 *
 * OCSP answers are kept in process (issue 17: asking Redis per request cost a quarter of the CPU per answer)
 * only while this process hears every change: it subscribes to the signers' announcements
 * (ocspChangesChannel), drops what they name and acknowledges, and a revocation's job waits for every
 * process's acknowledgement, so a revoke call's 200 still means every gateway process answers revoked.
 * While the subscription is down, nothing is kept and every request asks Redis (one GET, autopipelined),
 * as it did before. A kept answer is trusted for OCSP_KEEP_MS at most, so a refresh announcement that was
 * lost (those are not acknowledged) costs at most that long an older, still valid, response.
 */
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caCertificateDer, currentCrl, currentCrlHead, currentCrlNumber, ocspResponseToServe } from '@signet/persistence';
import {
  CertId, OCSP_MALFORMED_REQUEST, OCSP_TRY_LATER, OCSP_UNAUTHORIZED, OcspHash, allIssuerHashes, isPkiError, parseOcspGetPath, parseOcspRequest,
} from '@signet/pki';
import {
  OCSP_CACHE_TTL_MS, OcspCacheEntry, decodeOcspCacheEntry, decodeOcspChange, encodeOcspCacheEntry, ocspAcksChannel, ocspCacheKey, ocspChangesChannel,
} from '@signet/queue';
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
/** Longer requests (POST bytes, GET path characters) are parsed each time rather than remembered. */
const MEMO_REQUEST_MAX_LENGTH = 512;
/** The longest a kept OCSP answer is served without asking Redis (bounds a lost refresh announcement). */
export const OCSP_KEEP_MS = 60_000;

interface KeptOcsp {
  /** The Redis value it was prepared from (a private copy): equal bytes later reuse `entry`. */
  raw: Buffer;
  entry: PreparedOcsp;
  /** Served without asking Redis until then (0: ask Redis, it was read while a change may have been missed). */
  trustedUntil: number;
}

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
  /** Well-formed requests already parsed: POST bodies (as latin1 text) and GET paths, each with its CertId. */
  private readonly postRequests = new Map<string, CertId>();
  private readonly getRequests = new Map<string, CertId>();
  /** By serial: the Redis value last seen and what was prepared from it. */
  private readonly ocspMemo = new Map<string, KeptOcsp>();
  /** OCSP lookups get their own connection with auto-pipelining: the GETs of one event-loop turn go in one write. */
  private readonly ocspRedis: Redis;
  /** Subscribed to ocspChangesChannel: kept answers are trusted only while `listening`. */
  private readonly ocspChanges: Redis;
  private listening = false;
  /**
   * Moves on every change heard and every gain or loss of the subscription. A lookup trusts what it read
   * only if this did not move while it read: a change announced meanwhile may concern what it read.
   */
  private ocspEpoch = 0;

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
    // Subscribed again by hand on every (re)connection, so `listening` starts when the subscription does.
    this.ocspChanges = redis.duplicate({ autoResubscribe: false, connectionName: 'api-gateway-ocsp-changes' });
    this.ocspChanges.on('error', () => undefined);
    this.ocspChanges.on('ready', () => void this.listen());
    this.ocspChanges.on('close', () => this.forgetOcsp());
    this.ocspChanges.on('message', (_channel: string, message: string) => this.ocspChanged(message));
  }

  private async listen(): Promise<void> {
    try {
      await this.ocspChanges.subscribe(ocspChangesChannel(this.config.QUEUE_PREFIX));
    } catch {
      return; // the connection dropped again: 'close' has forgotten, the next 'ready' tries again
    }
    this.ocspEpoch++;
    this.listening = true;
  }

  /** The subscription is gone: changes may go unheard from now on, so nothing kept is trusted. */
  private forgetOcsp(): void {
    this.listening = false;
    this.ocspEpoch++;
    this.ocspMemo.clear();
  }

  /**
   * A signer changed these serials' responses: trust none of them any more (their prepared form stays, for
   * when Redis returns the same bytes), then acknowledge if the signer waits.
   */
  private ocspChanged(message: string): void {
    const change = decodeOcspChange(message);
    if (!change) return;
    this.ocspEpoch++;
    for (const serialNumber of change.serialNumbers) {
      const kept = this.ocspMemo.get(serialNumber);
      if (kept) kept.trustedUntil = 0;
    }
    if (change.token) this.ocspRedis.publish(ocspAcksChannel(this.config.QUEUE_PREFIX), change.token).catch(() => undefined);
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
    await Promise.all([closeRedis(this.ocspRedis), closeRedis(this.ocspChanges)]);
  }

  /** OCSP answers held in this process, and whether they are served without asking Redis now. */
  ocspCacheUsage(): { entries: number; listening: boolean } {
    return { entries: this.ocspMemo.size, listening: this.listening };
  }

  /** The OCSP answer for a DER request (POST) or the GET path's last part. Never throws for bad input. */
  async ocsp(request: Buffer | string): Promise<OcspAnswer> {
    let certId: CertId;
    try {
      certId = this.certIdOf(request);
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

  /**
   * The CertId a request asks about. Parsed requests are remembered by their bytes (a POST body) or their
   * GET path: relying parties ask the same question again and again (RFC 5019 requests carry no nonce), and
   * parsing was a tenth of an answer's CPU once the answers themselves were kept. Only well-formed requests
   * of an ordinary size are remembered (a request for one certificate is about 80-130 bytes), at most
   * OCSP_MEMO_ENTRIES of each form, the oldest going first: a few MB at most, whatever is sent.
   */
  private certIdOf(request: Buffer | string): CertId {
    const [memo, key] = typeof request === 'string' ? [this.getRequests, request] : [this.postRequests, request.toString('latin1')];
    const known = memo.get(key);
    if (known) return known;
    const certId = (typeof request === 'string' ? parseOcspGetPath(request) : parseOcspRequest(request)).certIds[0];
    if (key.length > MEMO_REQUEST_MAX_LENGTH) return certId;
    if (memo.size >= OCSP_MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
    memo.set(key, certId);
    return certId;
  }

  /**
   * A kept answer while it is trusted; else Redis, and on a miss PostgreSQL, then SET NX so a fill never
   * replaces what a signer wrote since.
   */
  private async ocspEntry(serialNumber: string): Promise<PreparedOcsp | null> {
    const kept = this.ocspMemo.get(serialNumber);
    if (kept && kept.trustedUntil > Date.now()) return kept.entry;
    const epoch = this.ocspEpoch;
    const key = ocspCacheKey(this.config.QUEUE_PREFIX, serialNumber);
    const cached = await this.ocspRedis.getBuffer(key).catch(() => null);
    if (cached) return this.prepared(serialNumber, cached, epoch);
    const entry: OcspCacheEntry | null = await ocspResponseToServe(this.dataSource.manager, serialNumber);
    if (!entry) return null;
    const ttl = Math.min(OCSP_CACHE_TTL_MS, entry.nextUpdate.getTime() - Date.now());
    const raw = encodeOcspCacheEntry(entry);
    if (ttl > 0) await this.ocspRedis.set(key, raw, 'PX', ttl, 'NX').catch(() => undefined);
    // Not kept: the SET NX may have lost to a signer's newer value, which the next request reads.
    return prepareOcsp(entry);
  }

  /**
   * What was prepared from these very bytes before, else prepared now; kept, and trusted if no change
   * was heard (and the subscription held) since `epoch`, when the read began.
   */
  private prepared(serialNumber: string, cached: Buffer, epoch: number): PreparedOcsp | null {
    const known = this.ocspMemo.get(serialNumber);
    let kept: KeptOcsp;
    if (known && known.raw.equals(cached)) {
      kept = known;
    } else {
      // A copy: ioredis hands out slices of its socket buffer, which a kept slice would pin.
      const raw = Buffer.from(cached);
      const decoded = decodeOcspCacheEntry(raw);
      if (!decoded) return null;
      kept = { raw, entry: prepareOcsp(decoded), trustedUntil: 0 };
      this.ocspMemo.delete(serialNumber);
      if (this.ocspMemo.size >= OCSP_MEMO_ENTRIES) this.ocspMemo.delete(this.ocspMemo.keys().next().value as string);
      this.ocspMemo.set(serialNumber, kept);
    }
    kept.trustedUntil = this.listening && epoch === this.ocspEpoch ? Date.now() + OCSP_KEEP_MS : 0;
    return kept.entry;
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
