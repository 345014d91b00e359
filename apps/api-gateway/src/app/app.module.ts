import { DynamicModule, Module } from '@nestjs/common';
import { createDataSourceOptions } from '@signet/persistence';
import { HealthModule, RedisModule, databaseModule, loggerModule } from '@signet/service';
import { GatewayConfig } from './gateway.config';

export const GATEWAY_CONFIG = 'GATEWAY_CONFIG';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        loggerModule('api-gateway', config.LOG_LEVEL),
        databaseModule(createDataSourceOptions(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE })),
        RedisModule.forRoot(config.REDIS_URL, 'signet-gateway'),
        HealthModule,
      ],
      providers: [{ provide: GATEWAY_CONFIG, useValue: config }],
      exports: [GATEWAY_CONFIG],
    };
  }
}
