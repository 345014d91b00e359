/**
 * What the public PKI endpoints serve, read for speed: pre-signed OCSP responses from the Redis cache
 * (filled from PostgreSQL on a miss), CRLs and CA certificates from PostgreSQL with an in-process copy
 * that is checked against the CRL number on every request. Nothing here signs: the gateway holds no key.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CertId, OCSP_MALFORMED_REQUEST, OCSP_TRY_LATER, OCSP_UNAUTHORIZED, OcspHash, allIssuerHashes, isPkiError, parseOcspGetPath, parseOcspRequest,
} from '@signet/pki';
import { OCSP_CACHE_TTL_MS, OcspCacheEntry, decodeOcspCacheEntry, encodeOcspCacheEntry, ocspCacheKey } from '@signet/queue';
import { REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';

export interface OcspAnswer {
  body: Buffer;
  /** Set for a successful (signed) answer: its times, for the RFC 5019 caching headers. */
  signed?: { thisUpdate: Date; nextUpdate: Date };
}

export interface StoredCrl {
  caId: string;
  crlNumber: string;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedCount: number;
  der: Buffer;
}

type IssuerHashes = Record<OcspHash, { issuerNameHash: Buffer; issuerKeyHash: Buffer }>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class PkiStore {
  /** Per CA: its certificate and issuer hashes. A CA certificate never changes, so these never go stale. */
  private readonly cas = new Map<string, { der: Buffer; hashes: IssuerHashes }>();
  private readonly crls = new Map<string, StoredCrl>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

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
    const ca = await this.ca(entry.caId);
    const expected = ca?.hashes[certId.hashAlgorithm];
    // The serial is only ours if the request names the CA that issued it.
    if (!expected || !expected.issuerNameHash.equals(certId.issuerNameHash) || !expected.issuerKeyHash.equals(certId.issuerKeyHash)) {
      return { body: OCSP_UNAUTHORIZED };
    }
    if (entry.nextUpdate.getTime() <= Date.now()) return { body: OCSP_TRY_LATER };
    return { body: entry.der, signed: { thisUpdate: entry.thisUpdate, nextUpdate: entry.nextUpdate } };
  }

  /** Redis first; on a miss PostgreSQL, then SET NX so a fill never replaces what a signer wrote since. */
  private async ocspEntry(serialNumber: string): Promise<OcspCacheEntry | null> {
    const key = ocspCacheKey(this.config.QUEUE_PREFIX, serialNumber);
    const cached = await this.redis.getBuffer(key).catch(() => null);
    if (cached) return decodeOcspCacheEntry(cached);
    const [row] = await this.dataSource.query(
      `SELECT ca_id, der, this_update, next_update FROM ocsp_responses WHERE serial_number = $1`,
      [serialNumber],
    );
    if (!row) return null;
    const entry: OcspCacheEntry = { caId: row.ca_id, der: row.der, thisUpdate: row.this_update, nextUpdate: row.next_update };
    const ttl = Math.min(OCSP_CACHE_TTL_MS, entry.nextUpdate.getTime() - Date.now());
    if (ttl > 0) await this.redis.set(key, encodeOcspCacheEntry(entry), 'PX', ttl, 'NX').catch(() => undefined);
    return entry;
  }

  /** A CA's certificate (DER) and issuer hashes; null for an unknown id. */
  async ca(caId: string): Promise<{ der: Buffer; hashes: IssuerHashes } | null> {
    const known = this.cas.get(caId);
    if (known) return known;
    if (!UUID.test(caId)) return null;
    const [row] = await this.dataSource.query(`SELECT certificate_der FROM cas WHERE id = $1`, [caId]);
    if (!row) return null;
    const ca = { der: row.certificate_der as Buffer, hashes: allIssuerHashes(row.certificate_der) };
    this.cas.set(caId, ca);
    return ca;
  }

  /** The CA's current CRL; the bytes are re-read only when the CRL number moved. */
  async crl(caId: string): Promise<StoredCrl | null> {
    if (!UUID.test(caId)) return null;
    const [head] = await this.dataSource.query(`SELECT crl_number::text AS n FROM crls WHERE ca_id = $1`, [caId]);
    if (!head) return null;
    const known = this.crls.get(caId);
    if (known && known.crlNumber === head.n) return known;
    const [row] = await this.dataSource.query(
      `SELECT crl_number::text AS n, this_update, next_update, revoked_count, der FROM crls WHERE ca_id = $1`,
      [caId],
    );
    if (!row) return null;
    const crl: StoredCrl = { caId, crlNumber: row.n, thisUpdate: row.this_update, nextUpdate: row.next_update, revokedCount: row.revoked_count, der: row.der };
    this.crls.set(caId, crl);
    return crl;
  }
}

/** A strong validator for bytes that are served as they are. */
export const etagOf = (der: Buffer): string => `"${createHash('sha1').update(der).digest('base64url')}"`;
