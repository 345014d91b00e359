/**
 * Pre-signed OCSP responses (RFC 5019 style): signed here at issuance, on revocation and before
 * nextUpdate; stored in PostgreSQL and written through to the Redis cache the gateways serve from.
 *
 * A stored response only moves forward: an upsert never replaces a newer response, and never turns a
 * revoked answer back into good (a refresh that read the status just before a revocation loses).
 */
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ocspResponsesBySerial, storeOcspResponses } from '@signet/persistence';
import type { CertificateAuthorityEntity, OcspResponseRow, RevocationReasonName } from '@signet/persistence';
import { CertId, Issuer, OcspCertStatus, buildOcspResponse, issuerHashes } from '@signet/pki';
import { OCSP_CACHE_TTL_MS, encodeOcspCacheEntry, encodeOcspChange, ocspAcksChannel, ocspCacheKey, ocspChangesChannel } from '@signet/queue';
import { REDIS, closeRedis } from '@signet/service';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { SIGNER_CONFIG } from '../signer-config.token';
import { ocspChangeAckTimeouts } from '../signer-metrics';
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

/** A revocation's change announcement waiting for the gateway processes' acknowledgements. */
interface AwaitedAcks {
  /** How many processes heard it (PUBLISH's answer); null until PUBLISH has answered. */
  receivers: number | null;
  acknowledged: number;
  settle: () => void;
}

@Injectable()
export class OcspSigner implements OnApplicationShutdown {
  /** Issuer name and key hashes per CA: fixed for a CA's life, so computed once. */
  private readonly hashes = new Map<string, Pick<CertId, 'issuerNameHash' | 'issuerKeyHash'>>();
  /** Subscribed to the gateways' acknowledgements, from the first revocation on. */
  private acks: Promise<Redis> | null = null;
  private readonly awaited = new Map<string, AwaitedAcks>();

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

  async onApplicationShutdown(): Promise<void> {
    const acks = this.acks;
    this.acks = null;
    const connection = acks ? await acks.catch(() => null) : null;
    if (connection) await closeRedis(connection);
  }

  /**
   * Write committed responses to the gateways' cache, then tell the gateway processes to drop the copies
   * they keep (ocspChangesChannel). `revocation` always writes (it must beat a gateway's concurrent fill
   * of the older good answer, which uses SET NX), waits until every gateway process that heard the change
   * has acknowledged it, and must succeed: a failure is thrown after a few tries, so the revoke job fails
   * and is retried rather than leave a `good` answer served anywhere. `refresh` only replaces entries that
   * are cached (a refresh of a million responses must not fill Redis with them) and is best effort: a
   * gateway that misses the cache reads PostgreSQL, which already holds the response, and a kept copy of
   * the older response is still a valid one. Entries live at most CACHE_TTL_MS: the cache holds what is
   * being asked for, PostgreSQL holds everything.
   */
  async publish(responses: SignedOcspResponse[], mode: 'revocation' | 'refresh'): Promise<void> {
    if (!responses.length) return;
    const serialNumbers = responses.map((r) => r.serialNumber);
    if (mode === 'refresh') {
      await this.write(responses, mode).catch(() => undefined);
      await this.redis.publish(ocspChangesChannel(this.config.QUEUE_PREFIX), encodeOcspChange({ token: '', serialNumbers })).catch(() => undefined);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(responses, mode);
        return await this.announce(serialNumbers);
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

  /**
   * Announce changed serials and wait for every gateway process that heard it to acknowledge (it has
   * dropped its copies by then). A process that heard it and died before acknowledging fails the wait
   * after OCSP_CHANGE_ACK_TIMEOUT_MS; the next try no longer counts it.
   */
  private async announce(serialNumbers: string[]): Promise<void> {
    await this.ackListener();
    const token = randomUUID();
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const awaited: AwaitedAcks = { receivers: null, acknowledged: 0, settle };
    this.awaited.set(token, awaited);
    let timer: NodeJS.Timeout | undefined;
    try {
      awaited.receivers = await this.redis.publish(ocspChangesChannel(this.config.QUEUE_PREFIX), encodeOcspChange({ token, serialNumbers }));
      if (awaited.acknowledged >= awaited.receivers) return;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ocspChangeAckTimeouts.inc();
          reject(new Error(`${awaited.acknowledged} of ${awaited.receivers} gateway processes acknowledged the OCSP change within ${this.config.OCSP_CHANGE_ACK_TIMEOUT_MS} ms`));
        }, this.config.OCSP_CHANGE_ACK_TIMEOUT_MS);
      });
      await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(timer);
      this.awaited.delete(token);
    }
  }

  /** The acknowledgement subscription, made once; a failed subscription is tried again next time. */
  private ackListener(): Promise<Redis> {
    if (!this.acks) {
      const connection = this.redis.duplicate({ connectionName: 'signer-ocsp-acks' });
      connection.on('error', () => undefined);
      connection.on('message', (_channel: string, token: string) => {
        const awaited = this.awaited.get(token);
        if (!awaited) return;
        awaited.acknowledged++;
        if (awaited.receivers !== null && awaited.acknowledged >= awaited.receivers) awaited.settle();
      });
      this.acks = connection.subscribe(ocspAcksChannel(this.config.QUEUE_PREFIX)).then(
        () => connection,
        async (error: unknown) => {
          this.acks = null;
          await closeRedis(connection);
          throw error;
        },
      );
    }
    return this.acks;
  }
}
