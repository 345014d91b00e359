/**
 * What a signer keeps in Redis besides jobs, put back each time its connection is ready again.
 *
 * A Redis restarted without persistence (or flushed, or failed over to an empty replica) loses the job
 * schedulers of the sweeps and the published transport key. Without the revocation sweep nothing
 * re-signs OCSP responses and CRLs before they expire, and a revocation whose delayed CRL rebuild was
 * lost with Redis never reaches its CRL; without the transport key every passphrase operation answers
 * 503 until the next periodic publication. Declaring a scheduler again and re-setting the key are
 * idempotent, so this runs on every `ready` of the signer's shared connection, the first one included.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { transportKeyRedisKey } from '@signet/queue';
import { REDIS } from '@signet/service';
import type Redis from 'ioredis';
import { CaKeyring } from '../keys/ca-keyring';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';
import { SignerQueue } from './signer-queue';

@Injectable()
export class QueueRecovery implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(QueueRecovery.name);
  private readyCount = 0;

  constructor(
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly queue: SignerQueue,
    private readonly keyring: CaKeyring,
  ) {}

  onModuleInit(): void {
    this.redis.on('ready', this.restore);
  }

  onApplicationShutdown(): void {
    this.redis.off('ready', this.restore);
  }

  private readonly restore = (): void => {
    if (this.readyCount++ > 0) this.logger.warn('Redis connection ready again: declaring the sweeps and publishing the transport key again');
    this.queue.declareSweeps().catch((err: Error) => this.logger.warn({ err: err.message }, 'could not declare the sweeps'));
    this.redis.set(transportKeyRedisKey(this.config.QUEUE_PREFIX), this.keyring.transport.publicKeyBase64)
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'could not publish the transport key'));
  };
}
