/**
 * Installing a certificate into a target's files, all or nothing, and rolling back when the reload fails.
 *
 * Each file is written to `<path>.signet-new` (mode and owner set, fsynced), the file it replaces is
 * copied to `<path>.signet-old` (fsynced), and only then is a journal written (fsynced) naming every
 * file; the renames follow, each atomic. A process killed before the journal leaves the old files and
 * some `.signet-new` files that the next start removes; killed after it, the next start finishes what the
 * journal says (installing: every remaining rename; rolling back: every restore) before doing anything
 * else. So after a restart a target holds the old files or the new ones, never some of each.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chown, copyFile, mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { TargetConfig } from './config';

export interface DeployFiles {
  certificatePem: string;
  chainPem: string;
  fullchainPem: string;
  /** Null: Signet keeps no key for this certificate; the key file is left as it is. */
  privateKeyPem: string | null;
}

interface JournalFile {
  path: string;
  /** Whether a file was there before (then its copy is at `<path>.signet-old`). */
  existed: boolean;
}

interface Journal {
  target: string;
  phase: 'installing' | 'rolling-back';
  files: JournalFile[];
}

const NEW = '.signet-new';
const OLD = '.signet-old';

/** A fault injected by tests (SIGNET_AGENT_CRASH_AT=<point>): the process dies there, as a power cut would. */
function crashPoint(point: string): void {
  if (process.env.SIGNET_AGENT_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  try {
    await fsyncPath(path);
  } catch {
    // Some file systems refuse to open a directory for sync; the rename is still atomic there.
  }
}

async function writeDurably(path: string, content: string, mode: number): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `user[:group]` or `uid[:gid]` -> numeric ids (names through id(1), as the system resolves them). */
function ownerIds(owner: string): { uid: number; gid: number } {
  const [user, group] = owner.split(':');
  const id = (flag: string, name: string) => (/^\d+$/.test(name) ? Number(name) : Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim()));
  const uid = id('-u', user);
  const gid = group === undefined ? id('-g', user) : /^\d+$/.test(group) ? Number(group) : Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`owner ${owner} does not resolve to a user and group`);
  return { uid, gid };
}

const journalPath = (stateDir: string, target: string) => join(stateDir, 'journal', `${target}.json`);

async function writeJournal(stateDir: string, journal: Journal): Promise<void> {
  const path = journalPath(stateDir, journal.target);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  await writeDurably(tmp, JSON.stringify(journal), 0o600);
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

async function removeJournal(stateDir: string, target: string): Promise<void> {
  await rm(journalPath(stateDir, target), { force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Finish an install: every `.signet-new` still there takes its place. */
async function rollForward(journal: Journal): Promise<void> {
  for (const f of journal.files) {
    if (await exists(f.path + NEW)) await rename(f.path + NEW, f.path);
  }
  for (const dir of new Set(journal.files.map((f) => dirname(f.path)))) await fsyncDir(dir);
}

/** Undo an install: every file back as it was (and those that were not there, gone). */
async function rollBack(stateDir: string, journal: Journal): Promise<void> {
  await writeJournal(stateDir, { ...journal, phase: 'rolling-back' });
  for (const f of journal.files) {
    if (f.existed) {
      if (await exists(f.path + OLD)) await rename(f.path + OLD, f.path);
    } else {
      await rm(f.path, { force: true });
    }
    await rm(f.path + NEW, { force: true });
  }
  for (const dir of new Set(journal.files.map((f) => dirname(f.path)))) await fsyncDir(dir);
}

async function cleanUp(stateDir: string, journal: Journal): Promise<void> {
  for (const f of journal.files) {
    await rm(f.path + OLD, { force: true });
    await rm(f.path + NEW, { force: true });
  }
  await removeJournal(stateDir, journal.target);
}

/**
 * At start, before anything else: finish every install or rollback a killed process left, and remove
 * the `.signet-new` files of installs that never reached their journal.
 */
export async function recoverTargets(stateDir: string, targets: TargetConfig[]): Promise<string[]> {
  const recovered: string[] = [];
  let journals: string[] = [];
  try {
    journals = (await readdir(join(stateDir, 'journal'))).filter((n) => n.endsWith('.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of journals) {
    const journal = JSON.parse(await readFile(join(stateDir, 'journal', name), 'utf8')) as Journal;
    if (journal.phase === 'installing') await rollForward(journal);
    else await rollBack(stateDir, journal);
    await cleanUp(stateDir, journal);
    recovered.push(`${journal.target}: ${journal.phase === 'installing' ? 'install finished' : 'rollback finished'}`);
  }
  for (const t of targets) {
    for (const path of filesOf(t)) {
      await rm(path + NEW, { force: true });
      await rm(path + OLD, { force: true });
    }
  }
  return recovered;
}

const filesOf = (t: TargetConfig): string[] => [t.certPath, t.keyPath, t.chainPath, t.fullchainPath].filter((p): p is string => !!p);

export interface ReloadOutcome {
  ok: boolean;
  error: string | null;
}

/** Run the reload command (sh -c) with a timeout; its process group is killed when the time is up. */
export function runReload(command: string, timeoutSeconds: number): Promise<ReloadOutcome> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (chunk: Buffer) => {
      if (output.length < 8000) output += chunk.toString('utf8');
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }, timeoutSeconds * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `reload command could not start: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const said = output.trim().slice(-2000);
      if (timedOut) resolve({ ok: false, error: `reload command did not finish within ${timeoutSeconds} s${said ? `: ${said}` : ''}` });
      else if (code === 0) resolve({ ok: true, error: null });
      else resolve({ ok: false, error: `reload command ${signal ? `was killed by ${signal}` : `exited with ${code}`}${said ? `: ${said}` : ''}` });
    });
  });
}

/**
 * Install `files` into target `t` and run its reload command; on any failure the target's files are
 * put back as they were. Returns null on success, else the error to report.
 */
export async function deployToTarget(stateDir: string, t: TargetConfig, files: DeployFiles): Promise<string | null> {
  const contents: { path: string; content: string; mode: number }[] = [{ path: t.certPath, content: files.certificatePem, mode: t.mode }];
  if (t.keyPath && files.privateKeyPem) contents.push({ path: t.keyPath, content: files.privateKeyPem, mode: 0o600 });
  if (t.chainPath) contents.push({ path: t.chainPath, content: files.chainPem, mode: t.mode });
  if (t.fullchainPath) contents.push({ path: t.fullchainPath, content: files.fullchainPem, mode: t.mode });
  if (t.keyPath && !files.privateKeyPem) {
    // The certificate must go with the key already there: without one to compare, say so in the report.
    const present = await exists(t.keyPath).catch(() => false);
    if (!present) return `Signet keeps no private key for this certificate and ${t.keyPath} does not exist`;
  }

  const owner = t.owner ? ownerIds(t.owner) : null;
  const journal: Journal = { target: t.name, phase: 'installing', files: [] };
  try {
    // 1. Stage: every new file beside its place, durable, with its final mode and owner; the old ones copied.
    for (const f of contents) {
      await mkdir(dirname(f.path), { recursive: true });
      await writeDurably(f.path + NEW, f.content, f.mode);
      if (owner) await chown(f.path + NEW, owner.uid, owner.gid);
      const existed = await exists(f.path);
      if (existed) {
        await copyFile(f.path, f.path + OLD);
        await fsyncPath(f.path + OLD);
      }
      journal.files.push({ path: f.path, existed });
    }
    crashPoint('before-journal');
    // 2. The decision: from here a restart finishes the install.
    await writeJournal(stateDir, journal);
    // 3. Install, one atomic rename per file.
    for (const [i, f] of journal.files.entries()) {
      await rename(f.path + NEW, f.path);
      if (i === 0) crashPoint('after-first-rename');
    }
    for (const dir of new Set(journal.files.map((f) => dirname(f.path)))) await fsyncDir(dir);
  } catch (error) {
    const message = `writing the files failed: ${(error as Error).message}`;
    if (journal.files.length) await rollBack(stateDir, journal).catch(() => undefined);
    await cleanUp(stateDir, journal).catch(() => undefined);
    return message;
  }
  crashPoint('before-reload');
  if (t.reloadCommand) {
    const outcome = await runReload(t.reloadCommand, t.reloadTimeoutSeconds);
    if (!outcome.ok) {
      await rollBack(stateDir, journal);
      await cleanUp(stateDir, journal);
      return `${outcome.error} (the previous files were restored)`;
    }
  }
  await cleanUp(stateDir, journal);
  return null;
}
