/**
 * MASTER_KEY rotation: `npm run rotate-master-key` (node dist/apps/signer/src/rotate-master-key.js).
 *
 * Keys come from the environment only, never argv (argv is visible to every user in ps):
 *   OLD_MASTER_KEY, NEW_MASTER_KEY   32 random bytes in base64 each (openssl rand -base64 32)
 *   CA_PASSPHRASES_FILE              optional: a JSON file {"<caId>": "<passphrase>", ...} (mode 0600 or
 *                                    stricter) with the passphrase of every passphrase-protected CA: their
 *                                    keys cannot be re-wrapped without it (master-key-rotation.ts)
 *   DATABASE_URL, REDIS_URL, QUEUE_PREFIX   as for the services
 * Flags:
 *   --dry-run          open and re-seal every blob, then roll back (proves OLD_MASTER_KEY and the passphrases)
 *   --skip-unreadable  leave blobs that do not open with OLD_MASTER_KEY as they are, and list them
 *   --no-redis         do not check Redis for running signers, nor withdraw the old transport key
 *
 * Before touching the database it refuses while any signer is still consuming the queue (a signer with the
 * old key would go on sealing new keys under it). After the commit it withdraws the signers' published
 * transport key (derived from MASTER_KEY): producers then answer 503 retryable until a signer with the
 * new key starts and publishes its own, instead of sealing passphrases to a key no signer holds any more.
 * Exit codes: 0 done (or dry run passed), 1 refused or failed (nothing changed), 64 usage.
 */
import 'reflect-metadata';
import { readFileSync, statSync } from 'node:fs';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@signet/persistence';
import { SIGNER_QUEUE, transportKeyRedisKey } from '@signet/queue';
import { closeRedis, createRedis } from '@signet/service';
import { RotationRefused, rotateMasterKey } from './app/keys/master-key-rotation';

const KEY_FORMAT = /^[A-Za-z0-9+/]{43}=$/;
const FLAGS = new Set(['--dry-run', '--skip-unreadable', '--no-redis']);
const say = (line: string) => process.stdout.write(`rotate-master-key: ${line}\n`);

class Usage extends Error {}

function keyFromEnv(name: 'OLD_MASTER_KEY' | 'NEW_MASTER_KEY'): Buffer {
  const value = process.env[name];
  if (!value) throw new Usage(`${name} is not set (keys are read from the environment only, never from arguments)`);
  if (!KEY_FORMAT.test(value)) throw new Usage(`${name} must be 32 random bytes in base64 (openssl rand -base64 32)`);
  // Not inherited by anything this process might start.
  delete process.env[name];
  return Buffer.from(value, 'base64');
}

function passphrasesFromFile(): Map<string, string> {
  const file = process.env.CA_PASSPHRASES_FILE;
  const passphrases = new Map<string, string>();
  if (!file) return passphrases;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new Usage(`CA_PASSPHRASES_FILE ${file} cannot be read`);
  }
  if ((mode & 0o077) !== 0) throw new Usage(`CA_PASSPHRASES_FILE ${file} is readable by others: chmod 600 it`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Usage(`CA_PASSPHRASES_FILE ${file} is not JSON ({"<caId>": "<passphrase>"})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Usage(`CA_PASSPHRASES_FILE ${file} must be a JSON object {"<caId>": "<passphrase>"}`);
  for (const [id, passphrase] of Object.entries(parsed)) {
    if (typeof passphrase !== 'string' || !passphrase) throw new Usage(`CA_PASSPHRASES_FILE: the passphrase of ${id} must be a non-empty string`);
    passphrases.set(id, passphrase);
  }
  return passphrases;
}

/** Signer workers connected to the queue (BullMQ names its worker connections), within a deadline. */
async function runningSigners(queue: Queue): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RotationRefused('Redis did not answer within 5 s (REDIS_URL): it is checked for running signers; --no-redis skips that')), 5000);
  });
  try {
    return await Promise.race([queue.getWorkersCount(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((arg) => !FLAGS.has(arg));
  if (unknown.length) throw new Usage(`unknown argument ${unknown[0].startsWith('--') ? unknown[0] : '(not shown)'}: flags are ${[...FLAGS].join(' ')}; keys go in OLD_MASTER_KEY / NEW_MASTER_KEY`);
  const dryRun = argv.includes('--dry-run');
  const skipUnreadable = argv.includes('--skip-unreadable');
  const useRedis = !argv.includes('--no-redis');
  const oldKey = keyFromEnv('OLD_MASTER_KEY');
  const newKey = keyFromEnv('NEW_MASTER_KEY');
  const passphrases = passphrasesFromFile();
  const prefix = process.env.QUEUE_PREFIX || 'signet';

  const redis = useRedis ? createRedis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', 'signet-rotate-master-key') : undefined;
  const queue = redis ? new Queue(SIGNER_QUEUE, { connection: redis, prefix }) : undefined;
  const dataSource = new DataSource(createDataSourceOptions(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/signet', {
    poolSize: 1, applicationName: 'signet-rotate-master-key',
  }));
  try {
    if (queue) {
      const signers = await runningSigners(queue);
      if (signers > 0) throw new RotationRefused(`${signers} signer worker(s) still consume queue ${prefix}: stop every signer first`);
    }
    await dataSource.initialize();
    const report = await rotateMasterKey(dataSource, { oldKey, newKey, passphrases, skipUnreadable, dryRun, log: say });
    for (const id of report.unusedPassphrases) say(`warning: CA_PASSPHRASES_FILE names ${id}, which is not a passphrase-protected CA (ignored)`);
    if (report.skipped.length) say(`${report.skipped.length} blob(s) skipped and left under the OLD key (unusable with the new one): ${report.skipped.map((s) => `${s.table} ${s.id}`).join(', ')}`);
    if (dryRun) {
      say(`dry run passed: ${report.rewrapped.cas} CA keys, ${report.rewrapped.certificates} stored keys and ${report.resealedEabKeys} ACME EAB keys open with OLD_MASTER_KEY; nothing changed`);
      return 0;
    }
    // Committed: from here on nothing may report "nothing was changed".
    if (redis) {
      await redis.del(transportKeyRedisKey(prefix)).catch(() =>
        say(`warning: could not withdraw the old transport key (${transportKeyRedisKey(prefix)}); the first signer with the new key replaces it`));
    }
    say(`done: ${report.rewrapped.cas} CA keys, ${report.rewrapped.certificates} stored keys and ${report.resealedEabKeys} ACME EAB keys now sealed under NEW_MASTER_KEY; start the signers with it`);
    return 0;
  } finally {
    oldKey.fill(0);
    newKey.fill(0);
    if (dataSource.isInitialized) await dataSource.destroy();
    await queue?.close().catch(() => undefined);
    if (redis) await closeRedis(redis);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    // One line: the reason, never a key, a stack or the database URL.
    say(`${error instanceof Usage || error instanceof RotationRefused ? 'refused' : 'failed'}: ${error.message}${error instanceof Usage ? '' : '; nothing was changed'}`);
    process.exit(error instanceof Usage ? 64 : 1);
  },
);
