/**
 * Pre-signed OCSP responses (RFC 5019 style): signed here at issuance, on revocation and before
 * nextUpdate; stored in PostgreSQL and written through to the Redis cache the gateways serve from.
 *
 * A stored response only moves forward: an upsert never replaces a newer response, and never turns a
 * revoked answer back into good (a refresh that read the status just before a revocation loses).
 */
import { Inject, Injectable } from '@nestjs/common';
import { ocspResponsesBySerial, storeOcspResponses } from '@signet/persistence';
import type { CertificateAuthorityEntity, OcspResponseRow, RevocationReasonName } from '@signet/persistence';
import { CertId, Issuer, OcspCertStatus, buildOcspResponse, issuerHashes } from '@signet/pki';
import { OCSP_CACHE_TTL_MS, encodeOcspCacheEntry, ocspCacheKey } from '@signet/queue';
import { REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';

/** What a response answers for: a leaf (certificateId) or an intermediate CA (subjectCaId). */
export interface OcspSubject {
  serialNumber: string;
  certificateId?: string | null;
  subjectCaId?: string | null;
  revokedAt?: Date | null;
  reason?: RevocationReasonName | null;
}

/** A signed response, as stored in ocsp_responses. */
export type SignedOcspResponse = OcspResponseRow;

/** Tries of a revocation's cache write within one job attempt before the job itself fails. */
const PUBLISH_ATTEMPTS = 3;

@Injectable()
export class OcspSigner {
  /** Issuer name and key hashes per CA: fixed for a CA's life, so computed once. */
  private readonly hashes = new Map<string, Pick<CertId, 'issuerNameHash' | 'issuerKeyHash'>>();

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async sign(ca: CertificateAuthorityEntity, issuer: Issuer, subject: OcspSubject, now = new Date()): Promise<SignedOcspResponse> {
    let hashes = this.hashes.get(ca.id);
    if (!hashes) this.hashes.set(ca.id, (hashes = issuerHashes(ca.certificateDer, 'sha1')));
    const status: OcspCertStatus = subject.revokedAt ? { status: 'revoked', revokedAt: subject.revokedAt, reason: subject.reason ?? null } : { status: 'good' };
    // Whole seconds: GeneralizedTime carries no fraction here, and the stored times must equal the signed ones.
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.config.OCSP_VALIDITY_SECONDS * 1000);
    const der = await buildOcspResponse({
      issuer,
      certId: { hashAlgorithm: 'sha1', ...hashes, serialNumber: subject.serialNumber },
      certStatus: status,
      thisUpdate,
      nextUpdate,
      producedAt: thisUpdate,
    });
    return {
      serialNumber: subject.serialNumber,
      caId: ca.id,
      certificateId: subject.certificateId ?? null,
      subjectCaId: subject.subjectCaId ?? null,
      status: status.status === 'revoked' ? 'revoked' : 'good',
      der,
      thisUpdate,
      nextUpdate,
    };
  }

  /** Upsert (forward only, see above); returns the responses that were stored. */
  store(manager: EntityManager, responses: SignedOcspResponse[]): Promise<SignedOcspResponse[]> {
    return storeOcspResponses(manager, responses);
  }

  /** The stored responses for these serials, as they are now (a retried revocation publishes them). */
  storedFor(serialNumbers: string[]): Promise<SignedOcspResponse[]> {
    return ocspResponsesBySerial(this.dataSource.manager, serialNumbers);
  }

  /**
   * Write committed responses to the gateways' cache. `revocation` always writes (it must beat a
   * gateway's concurrent fill of the older good answer, which uses SET NX) and must succeed: a failure
   * is thrown after a few tries, so the revoke job fails and is retried rather than leave a cached
   * `good` in place. `refresh` only replaces entries that are cached (a refresh of a million responses
   * must not fill Redis with them) and is best effort: a gateway that misses the cache reads PostgreSQL,
   * which already holds the response. Entries live at most CACHE_TTL_MS: the cache holds what is being
   * asked for, PostgreSQL holds everything.
   */
  async publish(responses: SignedOcspResponse[], mode: 'revocation' | 'refresh'): Promise<void> {
    if (!responses.length) return;
    if (mode === 'refresh') return this.write(responses, mode).catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(responses, mode);
      } catch (error) {
        if (attempt >= PUBLISH_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  private async write(responses: SignedOcspResponse[], mode: 'revocation' | 'refresh'): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const r of responses) {
      const ttl = Math.min(OCSP_CACHE_TTL_MS, r.nextUpdate.getTime() - Date.now());
      if (ttl <= 0) continue;
      const key = ocspCacheKey(this.config.QUEUE_PREFIX, r.serialNumber);
      if (mode === 'revocation') pipeline.set(key, encodeOcspCacheEntry(r), 'PX', ttl);
      else pipeline.set(key, encodeOcspCacheEntry(r), 'PX', ttl, 'XX');
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }
}
