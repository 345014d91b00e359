/**
 * Migration CLI: `node dist/libs/persistence/src/cli.js run|revert|create-db`.
 * Reads DATABASE_URL (default: the local development database). Run it once before replicas start.
 */
import { ensureDatabaseExists, revertLastMigration, runMigrations } from './lib/data-source';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/signet';

async function main(command: string | undefined, url: string): Promise<void> {
  switch (command) {
    case 'create-db': {
      const created = await ensureDatabaseExists(url);
      console.log(created ? 'database created' : 'database exists');
      return;
    }
    case 'run': {
      const applied = await runMigrations(url);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
      return;
    }
    case 'revert': {
      const reverted = await revertLastMigration(url);
      console.log(reverted ? 'reverted the last migration' : 'no migration to revert');
      return;
    }
    default:
      console.error('usage: cli.js run | revert | create-db');
      process.exit(64);
  }
}

main(process.argv[2], process.env.DATABASE_URL || DEFAULT_URL).catch((error: Error) => {
  // One line, no stack and no URL (it may hold a password).
  console.error(`signet migrate: ${error.message}`);
  process.exit(1);
});
