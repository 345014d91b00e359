/**
 * The TypeORM connection of an app. Options come from @signet/persistence's createDataSourceOptions,
 * so the apps and the migration CLI share one definition; migrations never run from a replica here
 * (they run once, before replicas start: `npm run migration:run` or the start script).
 */
import { DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';

export const databaseModule = (options: DataSourceOptions): DynamicModule =>
  TypeOrmModule.forRootAsync({
    useFactory: () => ({ ...options, synchronize: false, migrationsRun: false, retryAttempts: 2, retryDelay: 1000 }),
  });
