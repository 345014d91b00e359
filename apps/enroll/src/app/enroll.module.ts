import { DynamicModule, Module } from '@nestjs/common';
import { createDataSourceOptions } from '@signet/persistence';
import { HealthModule, RedisModule, databaseModule, loggerModule } from '@signet/service';
import { EnrollConfig } from './enroll.config';

export const ENROLL_CONFIG = 'ENROLL_CONFIG';

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
      providers: [{ provide: ENROLL_CONFIG, useValue: config }],
      exports: [ENROLL_CONFIG],
    };
  }
}
