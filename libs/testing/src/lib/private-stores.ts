/**
 * A PostgreSQL and a Redis of a test's own, on free ports, that the test may stop, kill and restart:
 * how fault tests take the stores away from running services without touching anyone else's.
 *
 * PostgreSQL: `initdb` into a temporary directory (trust auth, loopback only), started with `pg_ctl`
 * (the postmaster daemonizes), a `signet` database migrated with the project's migrations. A restart
 * keeps the data directory, as a real one does. PostgreSQL refuses to run as root: under root the
 * server runs as the `postgres` user.
 *
 * Redis: `redis-server` as a child process, without persistence (`--save "" --appendonly no`), so a
 * restart loses everything it held (queues, caches, rate-limit counters): the worst case for jobs in
 * flight.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDatabaseExists, runMigrations } from '@signet/persistence';
import { freePort } from './service-process';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store process a test owns: stop it, kill it, start it again (same port), tear it down. */
export interface PrivateStore {
  port: number;
  url: string;
  running: () => boolean;
  /** A clean stop (PostgreSQL: `pg_ctl stop -m fast`; Redis: SIGTERM, nothing saved). */
  stop: () => Promise<void>;
  /** As if it crashed (PostgreSQL: `-m immediate`, recovery on the next start; Redis: SIGKILL). */
  kill: () => Promise<void>;
  start: () => Promise<void>;
  /** Stop (or kill), stay down `downMs`, start again on the same port. */
  restart: (options?: { downMs?: number; kill?: boolean }) => Promise<void>;
  /** Stop it for good and remove its directory. */
  destroy: () => Promise<void>;
}

/** `url` is the migrated `signet` database; a restart keeps `dataDir`. */
export interface PrivatePostgres extends PrivateStore {
  dataDir: string;
}

/** A restart comes back empty. */
export interface PrivateRedis extends PrivateStore {
  /** What redis-server printed (its last start). */
  output: () => string;
}

/** stop/kill/start/restart/destroy of a store from its clean stop, its hard stop, its start and its clean-up. */
function controls(clean: () => Promise<void>, hard: () => Promise<void>, start: () => Promise<void>, cleanup: () => void) {
  return {
    stop: clean,
    kill: hard,
    start,
    restart: async ({ downMs = 0, kill = false } = {}) => {
      await (kill ? hard() : clean());
      if (downMs) await sleep(downMs);
      await start();
    },
    destroy: async () => {
      await hard().catch(() => undefined);
      cleanup();
    },
  };
}

/** The uid/gid to run PostgreSQL as: ours, or the `postgres` user's when we are root. */
function postgresUser(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as');
  return { uid, gid };
}

/** Resolve when something accepts TCP connections on 127.0.0.1:`port`, or fail after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the process for port ${port} exited`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Stop whatever a crashed test left running, when this process exits. */
const leftovers = new Set<() => void>();
let exitHookInstalled = false;
function onExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => leftovers.forEach((fn) => fn()));
  }
  leftovers.add(cleanup);
  return () => leftovers.delete(cleanup);
}

export async function startPrivatePostgres(options: { database?: string } = {}): Promise<PrivatePostgres> {
  const user = postgresUser();
  const root = mkdtempSync(join(tmpdir(), 'signet-pg-'));
  if (user.uid !== undefined) chownSync(root, user.uid, user.gid as number);
  const dataDir = join(root, 'data');
  const port = await freePort();
  const run = (cmd: string, args: string[], timeout = 60_000) => {
    const r = spawnSync(join(PG_BIN, cmd), args, { ...user, cwd: root, encoding: 'utf8', timeout });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
    return r.stdout;
  };
  run('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  // fsync off: only an OS crash could lose data then, and this server dies by pg_ctl, never with the OS.
  // synchronous_commit stays on: an acknowledged commit is on disk when the server is killed.
  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  let running = false;
  // Asynchronous: the test's own event loop (an in-process gateway) keeps serving while the server starts or stops.
  const pgCtl = (args: string[]) => new Promise<void>((resolve, reject) => {
    const child = spawn(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, ...args], { ...user, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk) => (out += chunk));
    child.stderr?.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} failed (${code}): ${out}`))));
  });
  const start = async () => {
    await pgCtl(['-l', join(root, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start']);
    running = true;
  };
  const stopWith = async (mode: 'fast' | 'immediate') => {
    if (!running) return;
    await pgCtl(['-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  const forget = onExit(() => {
    if (running) spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop'], { ...user });
  });
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/${options.database ?? 'signet'}`;
  try {
    await ensureDatabaseExists(url);
    await runMigrations(url);
  } catch (error) {
    await stopWith('immediate').catch(() => undefined);
    throw error;
  }
  return {
    port, url, dataDir,
    running: () => running,
    ...controls(() => stopWith('fast'), () => stopWith('immediate'), start, () => {
      forget();
      rmSync(root, { recursive: true, force: true });
    }),
  };
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'signet-redis-'));
  let child: ChildProcess | null = null;
  let exited: Promise<unknown> = Promise.resolve();
  let output = '';
  const alive = () => child !== null && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (alive()) return;
    output = '';
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    exited = new Promise((resolve) => child?.once('exit', resolve));
    try {
      await waitForPort(port, 10_000, alive);
    } catch (error) {
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${output}`);
    }
  };
  const stopWith = async (signal: NodeJS.Signals) => {
    if (!alive()) return;
    child?.kill(signal);
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const forget = onExit(() => {
    if (alive()) child?.kill('SIGKILL');
  });
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    running: alive,
    ...controls(() => stopWith('SIGTERM'), () => stopWith('SIGKILL'), start, () => {
      forget();
      rmSync(dir, { recursive: true, force: true });
    }),
    output: () => output,
  };
}
