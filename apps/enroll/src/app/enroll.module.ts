import { DynamicModule, Module } from '@nestjs/common';
import { createDataSourceOptions, issuedRowOf } from '@signet/persistence';
import { HealthModule, IssuanceBatcher, RedisModule, SignerClient, databaseModule, loggerModule } from '@signet/service';
import { ENROLL_CONFIG } from './enroll-config.token';
import { EnrollServer } from './enroll-server';
import { EnrollConfig } from './enroll.config';
import { EnrollmentService } from './enrollment.service';
import { TrustStore } from './trust-store';

export { ENROLL_CONFIG };

@Module({})
export class EnrollModule {
  static forRoot(config: EnrollConfig): DynamicModule {
    return {
      module: EnrollModule,
      global: true,
      imports: [
        loggerModule('enroll', config.LOG_LEVEL),
        databaseModule(createDataSourceOptions(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE })),
        RedisModule.forRoot(config.REDIS_URL, 'signet-enroll'),
        HealthModule,
      ],
      providers: [
        { provide: ENROLL_CONFIG, useValue: config },
        { provide: SignerClient, useFactory: (c: EnrollConfig) => new SignerClient(c), inject: [ENROLL_CONFIG] },
        {
          provide: IssuanceBatcher,
          useFactory: (signer: SignerClient, c: EnrollConfig) => new IssuanceBatcher(signer, { ms: c.ISSUE_COALESCE_MS, max: c.ISSUE_COALESCE_MAX }, issuedRowOf),
          inject: [SignerClient, ENROLL_CONFIG],
        },
        TrustStore,
        EnrollmentService,
        EnrollServer,
      ],
      exports: [ENROLL_CONFIG],
    };
  }
}
