#!/usr/bin/env node
/**
 * `npm start`: the whole stack on this machine in one command.
 *
 * 1. First run: create .env from .env.example with a fresh MASTER_KEY and PLATFORM_ADMIN_KEY (mode 0600).
 * 2. Check that PostgreSQL and Redis answer; if not, say in one line how to start them.
 * 3. Build (skip with --no-build), create the database if missing, run migrations.
 * 4. Run gateway, signer and enroll with prefixed logs; MASTER_KEY goes to the signer alone.
 * 5. Wait for every /healthz, print the gateway URL and a curl line that works.
 * Ctrl-C (or SIGTERM) stops the three gracefully; if one dies on its own, the others are stopped too.
 */
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const root = path.join(__dirname, '..');
const envFile = path.join(root, '.env');
const colors = { gateway: 36, signer: 35, enroll: 33, start: 32 };
const say = (name, line) => process.stdout.write(`\x1b[${colors[name]}m[${name}]\x1b[0m ${line}\n`);
const fail = (line) => {
  process.stderr.write(`signet start: ${line}\n`);
  process.exit(1);
};

/** .env on first run, with secrets generated here and never printed. */
function ensureEnvFile() {
  if (fs.existsSync(envFile)) return;
  const template = fs.readFileSync(path.join(root, '.env.example'), 'utf8');
  const filled = template
    .replace(/^MASTER_KEY=$/m, `MASTER_KEY=${randomBytes(32).toString('base64')}`)
    .replace(/^PLATFORM_ADMIN_KEY=$/m, `PLATFORM_ADMIN_KEY=sgn_platform_${randomBytes(32).toString('base64url')}`);
  fs.writeFileSync(envFile, filled, { mode: 0o600 });
  say('start', 'created .env with a new MASTER_KEY and PLATFORM_ADMIN_KEY (keep it safe; it is not in git)');
}

/** KEY=value lines; real environment variables win. */
function loadEnv() {
  const env = {};
  for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
    const match = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2].trim().replace(/^"(.*)"$/, '$1');
  }
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  return env;
}

function tcpAnswers(url, probe) {
  return new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port) || (url.startsWith('redis') ? 6379 : 5432) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => (probe ? socket.write(probe) : done(true)));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function checkStores(env) {
  const how =
    'start it (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` / `redis-server --daemonize yes`) ' +
    'or run `docker compose up -d postgres redis`';
  if (!(await tcpAnswers(env.DATABASE_URL))) fail(`PostgreSQL does not answer at DATABASE_URL (${new URL(env.DATABASE_URL).host}): ${how}`);
  if (!(await tcpAnswers(env.REDIS_URL, 'PING\r\n'))) fail(`Redis does not answer at REDIS_URL (${new URL(env.REDIS_URL).host}): ${how}`);
}

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed`);
}

const SERVICES = [
  { name: 'gateway', main: 'dist/apps/api-gateway/src/main.js', port: (env) => env.PORT || '3000' },
  { name: 'signer', main: 'dist/apps/signer/src/main.js', port: (env) => env.SIGNER_HEALTH_PORT || '8082' },
  { name: 'enroll', main: 'dist/apps/enroll/src/main.js', port: (env) => env.ENROLL_HEALTH_PORT || '8081' },
];

/** Only the signer may hold MASTER_KEY. */
function envFor(name, env) {
  const own = { ...env };
  if (name !== 'signer') delete own.MASTER_KEY;
  return own;
}

function startService(service, env, onExit) {
  const child = spawn(process.execPath, [service.main], { cwd: root, env: envFor(service.name, env), stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) if (line) say(service.name, line);
    });
  }
  child.on('exit', (code, signal) => onExit(service, code, signal));
  return child;
}

async function waitForHealth(port, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) return false;
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function main() {
  ensureEnvFile();
  const env = loadEnv();
  await checkStores(env);
  if (!process.argv.includes('--no-build')) {
    say('start', 'building');
    run('npm', ['run', '--silent', 'build'], env);
  }
  run(process.execPath, ['dist/libs/persistence/src/cli.js', 'create-db'], env);
  run(process.execPath, ['dist/libs/persistence/src/cli.js', 'run'], env);

  const children = new Map();
  let stopping = false;
  let exitCode = 0;
  const stopAll = () => {
    stopping = true;
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
  };
  const onExit = (service, code, signal) => {
    children.delete(service.name);
    if (!stopping) {
      say('start', `${service.name} exited (${signal ?? code}); stopping the others`);
      exitCode = 1;
      stopAll();
    }
    if (children.size === 0) process.exit(exitCode);
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  for (const service of SERVICES) children.set(service.name, startService(service, env, onExit));

  for (const service of SERVICES) {
    const child = children.get(service.name);
    if (!child || !(await waitForHealth(service.port(env), child))) return;
  }
  const url = `http://127.0.0.1:${env.PORT || 3000}`;
  say('start', `Signet is up: gateway ${url} (OpenAPI ${url}/docs), enroll TLS :${env.ENROLL_PORT || 8443}`);
  say('start', `try: curl -H "Authorization: Bearer $(grep ^PLATFORM_ADMIN_KEY= .env | cut -d= -f2)" ${url}/api/v1/whoami`);
}

main().catch((error) => fail(error.message));
