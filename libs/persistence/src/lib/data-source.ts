/**
 * The one definition of Signet's TypeORM connection, used by every app and by the migration CLI.
 */
import { Client } from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export interface ConnectionOptions {
  /** Pool size per process (pg's `max`). */
  poolSize?: number;
  /** Shown in pg_stat_activity, so an operator can tell gateway from signer connections. */
  applicationName?: string;
}

export function createDataSourceOptions(url: string, options: ConnectionOptions = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    // Never: the schema changes only through reviewed migrations.
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: options.applicationName ?? 'signet',
    extra: { max: options.poolSize ?? 10, connectionTimeoutMillis: 5000 },
  };
}

async function withDataSource<T>(url: string, work: (dataSource: DataSource) => Promise<T>): Promise<T> {
  const dataSource = new DataSource(createDataSourceOptions(url, { poolSize: 1, applicationName: 'signet-migrate' }));
  await dataSource.initialize();
  try {
    return await work(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

/** Apply every pending migration, each in its own transaction. Returns the names applied. */
export const runMigrations = (url: string): Promise<string[]> =>
  withDataSource(url, async (ds) => (await ds.runMigrations({ transaction: 'each' })).map((m) => m.name));

/** Undo the most recent migration. Returns false when none was applied. */
export const revertLastMigration = (url: string): Promise<boolean> =>
  withDataSource(url, async (ds) => {
    if (!(await ds.showMigrations()) && (await appliedMigrationCount(ds)) === 0) return false;
    await ds.undoLastMigration({ transaction: 'each' });
    return true;
  });

/** Undo every applied migration, newest first (tests use it to prove each `down` works). */
export const revertAllMigrations = (url: string): Promise<number> =>
  withDataSource(url, async (ds) => {
    let reverted = 0;
    while ((await appliedMigrationCount(ds)) > 0) {
      await ds.undoLastMigration({ transaction: 'each' });
      reverted++;
    }
    return reverted;
  });

async function appliedMigrationCount(ds: DataSource): Promise<number> {
  const exists = await ds.query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`);
  if (!exists[0].present) return 0;
  const rows = await ds.query(`SELECT count(*)::int AS n FROM schema_migrations`);
  return rows[0].n;
}

/** The database named by `url`, and the same server's maintenance database to run CREATE/DROP from. */
export function splitDatabaseUrl(url: string): { database: string; maintenanceUrl: string } {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error('DATABASE_URL names no database');
  parsed.pathname = '/postgres';
  return { database, maintenanceUrl: parsed.toString() };
}

const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;

async function withMaintenanceClient<T>(url: string, work: (client: Client, database: string) => Promise<T>): Promise<T> {
  const { database, maintenanceUrl } = splitDatabaseUrl(url);
  const client = new Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client, database);
  } finally {
    await client.end();
  }
}

/** Create the database named in `url` when it does not exist. Returns true when it was created. */
export const ensureDatabaseExists = (url: string): Promise<boolean> =>
  withMaintenanceClient(url, async (client, database) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    } catch (error) {
      // Two starters racing: the other one created it, which is what we wanted.
      if ((error as { code?: string }).code !== '42P04') throw error;
      return false;
    }
    return true;
  });

/** Drop the database named in `url`, disconnecting its sessions (test teardown only). */
export const dropDatabase = (url: string): Promise<void> =>
  withMaintenanceClient(url, async (client, database) => {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
  });
