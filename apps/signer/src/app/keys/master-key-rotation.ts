/**
 * MASTER_KEY rotation: every blob sealed under the old MASTER_KEY (CA keys, created or imported, and
 * stored managed keys; libs/persistence master-key-rotation.ts lists where they live) is opened with it
 * and sealed again under the new one, all in ONE transaction: either every blob moves or none does.
 *
 * Why one transaction and not resumable batches: a blob does not say which master key sealed it, so a
 * half-done rotation would leave a database that no single MASTER_KEY opens, and a resumed run would have
 * to guess per row. Signers are stopped for the rotation anyway (nothing else writes these columns), the
 * work is one AES-GCM open and seal per row (tens of thousands of rows a second; the scrypt of a
 * passphrase CA costs ~0.1 s, and there are few), and the rows are read and written a page at a time, so
 * the process's memory does not grow with the table. The tables are locked against writers meanwhile
 * (readers go on: OCSP and CRLs keep being served).
 *
 * Passphrase layers: a passphrase-protected blob is not MASTER_KEY(passphrase(key)) but one AES-GCM layer
 * under HKDF(MASTER_KEY || scrypt(passphrase)), so it cannot be re-sealed without its passphrase. The
 * rotation needs each such CA's passphrase (from a file, see rotate-master-key.ts) and seals the key again
 * under the new MASTER_KEY and the same passphrase (a fresh salt): the CA stays protected by that
 * passphrase. One without its passphrase is refused like any blob that does not open.
 *
 * Nothing is written in the clear: keys exist only as KeyObjects in this process (their DER is zeroed
 * by decryptPrivateKey), and each new blob is opened again with the new key and compared with the old
 * key before it is written.
 */
import { DataSource, EntityManager } from 'typeorm';
import { KeyObject, createPublicKey } from 'node:crypto';
import {
  SEALED_KEY_TABLES, SealedKeyTable, countSealedKeys, insertAuditEvents, lockSealedKeyTables, replaceSealedKeys, resealAcmeEabKey, sealedAcmeEabKeys,
  sealedKeyPage,
} from '@signet/persistence';
import { blobNeedsPassphrase, decryptPrivateKey, encryptPrivateKey, isPkiError } from '@signet/pki';
import { open, seal, transportKeyFrom } from '@signet/queue';

export interface RotationOptions {
  oldKey: Buffer;
  newKey: Buffer;
  /** Passphrases of passphrase-protected CAs, by CA id. */
  passphrases?: ReadonlyMap<string, string>;
  /** Leave blobs that do not open with the old key as they are (listed in the report) instead of refusing. */
  skipUnreadable?: boolean;
  /** Open every blob and seal it again, then roll back: proves the old key (and passphrases) before the real run. */
  dryRun?: boolean;
  pageSize?: number;
  /** How long to wait for writers in flight before refusing (a signer still running). */
  lockTimeoutMs?: number;
  /** Progress lines (never key material). */
  log?: (line: string) => void;
}

export interface SkippedBlob {
  table: SealedKeyTable | 'acme_eab_keys';
  id: string;
  reason: string;
}

export interface RotationReport {
  dryRun: boolean;
  /** Blobs sealed again under the new key (rolled back on a dry run). */
  rewrapped: Record<SealedKeyTable, number>;
  /** ACME EAB keys sealed again to the new MASTER_KEY's transport key. */
  resealedEabKeys: number;
  skipped: SkippedBlob[];
  /** Passphrases given for ids that are not passphrase-protected CAs (ignored). */
  unusedPassphrases: string[];
}

/** The rotation refused: nothing was changed. `table`/`id` name the first blob that did not open. */
export class RotationRefused extends Error {
  constructor(message: string, readonly table?: SealedKeyTable, readonly id?: string) {
    super(message);
    this.name = 'RotationRefused';
  }
}

const spki = (key: KeyObject): Buffer => createPublicKey(key).export({ type: 'spki', format: 'der' }) as Buffer;

function checkKey(name: string, key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new RotationRefused(`${name} must be 32 bytes`);
}

/** Why a blob does not open with the old key, in words an operator can act on. */
function unreadable(error: unknown, hadPassphrase: boolean): string {
  if (isPkiError(error) && error.code === 'passphrase_required') return 'passphrase-protected CA: give its passphrase in CA_PASSPHRASES_FILE';
  if (hadPassphrase) return 'does not open with OLD_MASTER_KEY and the passphrase given (wrong key, wrong passphrase or a damaged blob)';
  return 'does not open with OLD_MASTER_KEY (wrong key or a damaged blob)';
}

export async function rotateMasterKey(dataSource: DataSource, options: RotationOptions): Promise<RotationReport> {
  const { oldKey, newKey, passphrases = new Map<string, string>(), skipUnreadable = false, dryRun = false, pageSize = 500, lockTimeoutMs = 10_000 } = options;
  const log = options.log ?? (() => undefined);
  checkKey('OLD_MASTER_KEY', oldKey);
  checkKey('NEW_MASTER_KEY', newKey);
  if (oldKey.equals(newKey)) throw new RotationRefused('NEW_MASTER_KEY is the same as OLD_MASTER_KEY');

  const report: RotationReport = { dryRun, rewrapped: { cas: 0, certificates: 0 }, resealedEabKeys: 0, skipped: [], unusedPassphrases: [] };
  const usedPassphrases = new Set<string>();
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.startTransaction();
    const manager = runner.manager;
    try {
      await lockSealedKeyTables(manager, lockTimeoutMs).catch((error: { code?: string }) => {
        if (error?.code === '55P03') throw new RotationRefused('could not lock cas and certificates: something is still writing them (stop every signer first)');
        throw error;
      });
      const totals = await countSealedKeys(manager);
      log(`${totals.cas} CA keys and ${totals.certificates} stored keys to re-wrap${dryRun ? ' (dry run: rolled back at the end)' : ''}`);
      for (const table of SEALED_KEY_TABLES) {
        await rewrapTable(manager, table, { oldKey, newKey, passphrases, skipUnreadable, pageSize, report, usedPassphrases, log });
      }
      report.resealedEabKeys = await resealEabKeys(manager, oldKey, newKey, skipUnreadable, report, log);
      report.unusedPassphrases = [...passphrases.keys()].filter((id) => !usedPassphrases.has(id));
      if (dryRun) {
        await runner.rollbackTransaction();
        return report;
      }
      await insertAuditEvents(manager, [{
        orgId: null, eventType: 'platform.master_key.rotate', outcome: 'success', actorType: 'system', actorId: null, actorName: 'rotate-master-key',
        resourceType: 'master_key', details: { rewrapped: report.rewrapped, resealedEabKeys: report.resealedEabKeys, skipped: report.skipped },
      }]);
      await runner.commitTransaction();
      return report;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    }
  } finally {
    await runner.release();
  }
}

/**
 * ACME EAB HMAC keys are sealed to the signers' transport key, which MASTER_KEY derives: opened with
 * the old one's and sealed to the new one's, in the rotation's transaction (rows locked as they are read).
 */
async function resealEabKeys(manager: EntityManager, oldKey: Buffer, newKey: Buffer, skipUnreadable: boolean, report: RotationReport, log: (line: string) => void): Promise<number> {
  const from = transportKeyFrom(oldKey);
  const to = transportKeyFrom(newKey);
  let resealed = 0;
  for (const row of await sealedAcmeEabKeys(manager)) {
    let hmacKey: string;
    try {
      hmacKey = open(row.encryptedKey.toString('utf8'), from.privateKey);
    } catch {
      const reason = 'does not open with OLD_MASTER_KEY\'s transport key (wrong key or a damaged blob)';
      if (!skipUnreadable) throw new RotationRefused(`acme_eab_keys ${row.id}: ${reason}`);
      report.skipped.push({ table: 'acme_eab_keys', id: row.id, reason });
      log(`skipped acme_eab_keys ${row.id}: ${reason}`);
      continue;
    }
    if (!(await resealAcmeEabKey(manager, row.id, row.encryptedKey, Buffer.from(seal(hmacKey, to.publicKeyBase64), 'utf8')))) {
      throw new RotationRefused(`acme_eab_keys ${row.id}: the row changed under the rotation`);
    }
    resealed++;
  }
  log(`acme_eab_keys: ${resealed} re-sealed`);
  return resealed;
}

async function rewrapTable(
  manager: EntityManager,
  table: SealedKeyTable,
  ctx: {
    oldKey: Buffer; newKey: Buffer; passphrases: ReadonlyMap<string, string>; skipUnreadable: boolean; pageSize: number;
    report: RotationReport; usedPassphrases: Set<string>; log: (line: string) => void;
  },
): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const page = await sealedKeyPage(manager, table, after, ctx.pageSize);
    if (!page.length) break;
    after = page[page.length - 1].id;
    const next: { id: string; previous: Buffer; encryptedKey: Buffer }[] = [];
    for (const row of page) {
      const layered = blobNeedsPassphrase(row.encryptedKey);
      const passphrase = table === 'cas' && layered ? ctx.passphrases.get(row.id) : undefined;
      if (passphrase !== undefined) ctx.usedPassphrases.add(row.id);
      let key: KeyObject;
      try {
        key = await decryptPrivateKey(row.encryptedKey, ctx.oldKey, passphrase);
      } catch (error) {
        const reason = unreadable(error, passphrase !== undefined);
        if (!ctx.skipUnreadable) throw new RotationRefused(`${table} ${row.id}: ${reason}`, table, row.id);
        ctx.report.skipped.push({ table, id: row.id, reason });
        ctx.log(`skipped ${table} ${row.id}: ${reason}`);
        continue;
      }
      // The passphrase layer stays: sealed again under the new MASTER_KEY and the same passphrase.
      const sealed = await encryptPrivateKey(key, ctx.newKey, passphrase);
      const reopened = await decryptPrivateKey(sealed, ctx.newKey, passphrase);
      if (!spki(reopened).equals(spki(key))) throw new RotationRefused(`${table} ${row.id}: the re-wrapped key does not open to the same key`, table, row.id);
      next.push({ id: row.id, previous: row.encryptedKey, encryptedKey: sealed });
    }
    const written = await replaceSealedKeys(manager, table, next);
    if (written !== next.length) throw new RotationRefused(`${table}: ${next.length - written} rows changed under the rotation`, table);
    ctx.report.rewrapped[table] += written;
  }
  ctx.log(`${table}: ${ctx.report.rewrapped[table]} re-wrapped`);
}
