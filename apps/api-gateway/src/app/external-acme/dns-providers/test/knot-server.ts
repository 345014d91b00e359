/**
 * A real Knot DNS (Debian's `knot`) for the rfc2136 tests: started on a loopback port as the current
 * user, with its config, zone files and database in a temporary folder, TSIG keys, and zones that the
 * keys may update (or only some of them: a key with no update ACL shows a refusal). Stopped by `stop()`.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@signet/testing';
import type { TsigAlgorithm } from '../dns-provider-config';

export interface KnotKey {
  name: string;
  algorithm: TsigAlgorithm;
  /** Base64. */
  secret: string;
  /** May it update the zones? */
  update: boolean;
}

export interface KnotServer {
  port: number;
  /** `127.0.0.1:<port>`. */
  nameserver: string;
  keys: KnotKey[];
  /** What `dig` answers for TXT at `name` (unquoted values, sorted), asked of this server. */
  txt(name: string): Promise<string[]>;
  stop(): Promise<void>;
}

const KNOTD = ['/usr/sbin/knotd', '/usr/bin/knotd'].find((path) => existsSync(path));
const DIG = ['/usr/bin/dig', '/usr/local/bin/dig'].find((path) => existsSync(path));

export function knotAvailable(): string | null {
  if (!KNOTD) return 'knotd is not installed (Debian package knot; .ci/run installs it)';
  if (!DIG) return 'dig is not installed (Debian package dnsutils; .ci/run installs it)';
  return null;
}

function zoneFile(zone: string, records: string[] = []): string {
  return [
    `$ORIGIN ${zone}.`,
    '$TTL 60',
    `@ SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
    `@ NS ns1.${zone}.`,
    'ns1 A 127.0.0.1',
    'x A 127.0.0.1',
    ...records,
    '',
  ].join('\n');
}

/** `records`: further lines of a zone's file, by zone (`* A 127.0.0.1` makes every name in it resolve to loopback). */
export async function startKnot(options: { zones: string[]; keys: Array<Omit<KnotKey, 'secret'>>; records?: Record<string, string[]> }): Promise<KnotServer> {
  const missing = knotAvailable();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'signet-knot-'));
  const port = await freePort();
  const keys: KnotKey[] = options.keys.map((key) => ({ ...key, secret: randomBytes(32).toString('base64') }));
  const updaters = keys.filter((key) => key.update).map((key) => key.name);
  const readers = keys.filter((key) => !key.update).map((key) => key.name);
  const config = [
    'server:',
    `  rundir: "${dir}"`,
    `  pidfile: "${join(dir, 'knot.pid')}"`,
    `  listen: 127.0.0.1@${port}`,
    'log:',
    '  - target: stderr',
    '    any: info',
    'database:',
    `  storage: "${join(dir, 'db')}"`,
    'key:',
    ...keys.flatMap((key) => [`  - id: ${key.name}`, `    algorithm: ${key.algorithm}`, `    secret: ${key.secret}`]),
    'acl:',
    '  - id: signet_update',
    `    key: [${updaters.join(', ')}]`,
    '    action: update',
    // Knot knows only the keys an ACL names: the others may transfer the zone, and not update it.
    ...(readers.length > 0 ? ['  - id: signet_transfer', `    key: [${readers.join(', ')}]`, '    action: transfer'] : []),
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    '    zonefile-sync: -1',
    `    acl: [signet_update${readers.length > 0 ? ', signet_transfer' : ''}]`,
    'zone:',
    ...options.zones.map((zone) => `  - domain: ${zone}\n    file: "${zone}.zone"`),
    '',
  ].join('\n');
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'knot.conf'), config);
  for (const zone of options.zones) writeFileSync(join(dir, `${zone}.zone`), zoneFile(zone, options.records?.[zone]));

  const child: ChildProcess = spawn(KNOTD as string, ['-c', join(dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const dig = async (args: string[]): Promise<string> =>
    (await promisify(execFile)(DIG as string, [`@127.0.0.1`, '-p', String(port), '+time=2', '+tries=1', ...args])).stdout;

  const server: KnotServer = {
    port,
    nameserver: `127.0.0.1:${port}`,
    keys,
    async txt(name) {
      const out = await dig(['+short', 'TXT', name]);
      return out
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => line.trim().replace(/^"|"$/g, ''))
        .sort();
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`knotd exited at start:\n${log}`);
    const soa = await dig(['+short', 'SOA', options.zones[0]]).catch(() => '');
    if (soa.includes('hostmaster')) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`knotd did not answer within 15 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
