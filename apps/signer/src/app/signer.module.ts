import { DynamicModule, Module } from '@nestjs/common';
import { createDataSourceOptions } from '@signet/persistence';
import { HealthModule, RedisModule, databaseModule, loggerModule } from '@signet/service';
import { SignerConfig } from './signer.config';

export const SIGNER_CONFIG = 'SIGNER_CONFIG';

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
      providers: [{ provide: SIGNER_CONFIG, useValue: config }],
      exports: [SIGNER_CONFIG],
    };
  }
}
