import { DynamicModule, Module } from '@nestjs/common';
import { createDataSourceOptions } from '@signet/persistence';
import { HealthModule, RedisModule, databaseModule, loggerModule } from '@signet/service';
import { CreateCaHandler } from './jobs/create-ca.handler';
import { ExportKeyHandler } from './jobs/export-key.handler';
import { VerifyEabHandler } from './jobs/verify-eab.handler';
import { WrapKeyHandler } from './jobs/wrap-key.handler';
import { ImportCaHandler } from './jobs/import-ca.handler';
import { IssueCertificateHandler } from './jobs/issue-certificate.handler';
import { SignerWorker } from './jobs/signer.worker';
import { CaKeyring } from './keys/ca-keyring';
import { CrlBuilder } from './revocation/crl-builder';
import { SetCrlShardsHandler } from './jobs/set-crl-shards.handler';
import { OcspSigner } from './revocation/ocsp-signer';
import { QueueRecovery } from './revocation/queue-recovery';
import { RevokeHandlers } from './revocation/revoke.handlers';
import { SignerQueue } from './revocation/signer-queue';
import { Sweeps } from './revocation/sweeps';
import { OutsideAcmeRenewals } from './revocation/outside-acme-renewals';
import { SignerConfig } from './signer.config';

import { SignerMetricsCollector } from './signer-metrics';
import { SIGNER_CONFIG } from './signer-config.token';

export { SIGNER_CONFIG };

@Module({})
export class SignerModule {
  static forRoot(config: SignerConfig): DynamicModule {
    return {
      module: SignerModule,
      global: true,
      imports: [
        loggerModule('signer', config.LOG_LEVEL),
        databaseModule(createDataSourceOptions(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE })),
        RedisModule.forRoot(config.REDIS_URL, 'signet-signer'),
        HealthModule,
      ],
      providers: [{ provide: SIGNER_CONFIG, useValue: config }, CaKeyring, SignerQueue, OcspSigner, CrlBuilder, CreateCaHandler, ImportCaHandler, IssueCertificateHandler, ExportKeyHandler, VerifyEabHandler, WrapKeyHandler, SetCrlShardsHandler,
        RevokeHandlers, Sweeps, OutsideAcmeRenewals, SignerWorker, QueueRecovery, SignerMetricsCollector],
      exports: [SIGNER_CONFIG],
    };
  }
}
