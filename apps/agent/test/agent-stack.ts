/**
 * What the agent suites stand on: the built signer and gateway as processes (their own queue prefix),
 * an org with a CA, certificates made by openssl, a real Debian nginx on loopback, and the built agent.
 */
import { RunningService, apiOk, freePort, spawnService, startGatewayProcess, stopService, testServiceEnv, waitForHttp } from '@signet/testing';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PLATFORM_ADMIN_KEY = `agent-suite-admin-${randomBytes(12).toString('hex')}`;
export const AGENT_MAIN = join(__dirname, '../../../dist/apps/agent/main.js');

export interface Stack {
  url: string;
  adminKey: string;
  caId: string;
  processes: RunningService[];
  queuePrefix: string;
}

/** Signer (renewal sweep every second) and gateway as built processes; an org with a root and an issuing CA. */
export async function startStack(suffix: string): Promise<Stack> {
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const queuePrefix = `${process.env.QUEUE_PREFIX}-${suffix}`;
  const healthPort = await freePort();
  const signer = spawnService('signer', {
    ...testServiceEnv(), QUEUE_PREFIX: queuePrefix, MASTER_KEY: randomBytes(32).toString('base64'), SIGNER_HEALTH_PORT: String(healthPort),
    RENEWAL_SWEEP_INTERVAL_MS: '1000',
  });
  await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, signer);
  const { gateway, url } = await startGatewayProcess({ QUEUE_PREFIX: queuePrefix, PLATFORM_ADMIN_KEY, WEBHOOK_WORKER: 'true' });
  const { adminKey } = await apiOk(url, 'POST', '/api/v1/platform/orgs', { key: PLATFORM_ADMIN_KEY, body: { name: 'Agents Org', slug: `agents-${randomBytes(4).toString('hex')}` } });
  const root = (await apiOk(url, 'POST', '/api/v1/cas', { key: adminKey, body: { name: 'Agents Root', subject: { commonName: 'Agents Root CA', organization: 'Signet Tests' } } })).ca;
  const issuing = (await apiOk(url, 'POST', '/api/v1/cas', { key: adminKey, body: { name: 'Agents Issuing', parentCaId: root.id, subject: { commonName: 'Agents Issuing CA' } } })).ca;
  return { url, adminKey, caId: issuing.id, processes: [gateway, signer], queuePrefix };
}

export async function stopStack(stack: Stack | undefined): Promise<void> {
  for (const p of stack?.processes ?? []) await stopService(p);
}

/** A scratch directory others (the agent running as nobody, nginx's workers) may enter. */
export function scratchDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `signet-agent-${name}-`));
  chmodSync(dir, 0o755);
  return dir;
}

export function openssl(cwd: string, ...args: string[]): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A self-signed CA made by openssl: `<name>.crt`, `<name>.key` in `dir`. */
export function opensslCa(dir: string, name: string, subject: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3650',
    '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

/** A leaf signed by CA `ca` (files in `dir`): `<name>.crt`, `<name>.key`. */
export function opensslLeaf(dir: string, name: string, ca: string, cn: string, options: { rsa?: boolean; days?: number } = {}): void {
  const key = options.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(dir, 'req', '-new', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${cn}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', String(options.days ?? 90),
    '-extfile', `${name}.ext`);
  rmSync(join(dir, `${name}.csr`));
  rmSync(join(dir, `${name}.ext`));
}

/** A leaf that expired in 2020, signed by CA `ca` with `openssl ca` (x509 -req cannot date a certificate in the past). */
export function opensslExpiredLeaf(dir: string, name: string, ca: string, cn: string): void {
  const db = join(dir, `${name}-ca-db`);
  mkdirSync(join(db, 'new'), { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '4E01\n');
  writeFileSync(join(db, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', `database = ${db}/index.txt`, `new_certs_dir = ${db}/new`, `serial = ${db}/serial`, 'default_md = sha256',
    'policy = p', 'copy_extensions = copy', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(db, 'unused.key'), '-out', join(db, 'leaf.csr'),
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`);
  openssl(dir, 'ca', '-batch', '-config', join(db, 'ca.cnf'), '-cert', `${ca}.crt`, '-keyfile', `${ca}.key`, '-in', join(db, 'leaf.csr'), '-out', `${name}.crt`,
    '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext');
  rmSync(db, { recursive: true });
}

export const fingerprintOf = (pem: string | Buffer) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

// ---- nginx ----

export interface Nginx {
  prefix: string;
  conf: string;
  port: number;
  certPath: string;
  keyPath: string;
  reloadCommand: string;
  stop: () => void;
}

/** Debian's nginx serving TLS on a loopback port from `prefix`, with a self-signed certificate to start from. */
export async function startNginx(): Promise<Nginx> {
  const prefix = scratchDir('nginx');
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'tls'));
  const port = await freePort();
  const certPath = join(prefix, 'tls', 'fullchain.pem');
  const keyPath = join(prefix, 'tls', 'privkey.pem');
  openssl(prefix, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '30', '-subj', '/CN=localhost');
  const conf = join(prefix, 'nginx.conf');
  const temp = (name: string) => `${name}_temp_path ${join(prefix, `${name}-tmp`)};`;
  writeFileSync(conf, `
daemon on;
master_process on;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${certPath};
    ssl_certificate_key ${keyPath};
    location / { return 200 "ok\\n"; }
  }
}
`);
  const nginx = (...args: string[]) => spawnSync('/usr/sbin/nginx', ['-p', prefix, '-c', conf, ...args], { encoding: 'utf8' });
  const started = nginx();
  if (started.status !== 0) throw new Error(`nginx did not start: ${started.stderr}`);
  return {
    prefix, conf, port, certPath, keyPath,
    reloadCommand: `/usr/sbin/nginx -p ${prefix} -c ${conf} -s reload`,
    stop: () => {
      nginx('-s', 'stop');
    },
  };
}

/** The certificate nginx serves for SNI `servername`, as openssl s_client sees it (PEM). */
export function servedCertificate(port: number, servername = 'localhost'): string {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { input: '', encoding: 'utf8', timeout: 20000 });
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout);
  if (!match) throw new Error(`openssl s_client got no certificate: ${r.stdout}${r.stderr}`);
  return match[0];
}

// ---- the agent ----

export interface AgentRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** The built agent with `config` (written to a file in `dir`), as a process; `uid` runs it as another user. */
export function spawnAgent(dir: string, config: object, args: string[], options: { env?: Record<string, string>; uid?: number; configName?: string } = {}): AgentRun {
  const configFile = join(dir, options.configName ?? 'agent.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  chmodSync(configFile, 0o644);
  const child = spawn(process.execPath, [AGENT_MAIN, '--config', configFile, ...args], {
    env: { PATH: process.env.PATH ?? '', ...(options.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.uid,
  });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, output: () => output, exited };
}

/** Run the agent with --once; resolves with its exit code and output. */
export async function agentOnce(dir: string, config: object, options: { env?: Record<string, string>; uid?: number; configName?: string } = {}) {
  const run = spawnAgent(dir, config, ['--once'], options);
  const code = await run.exited;
  return { code, output: run.output() };
}

export const read = (path: string) => readFileSync(path, 'utf8');

export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
