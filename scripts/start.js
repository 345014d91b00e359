#!/usr/bin/env node
'use strict';
/**
 * `npm start`: the whole Signet stack on this machine in one command.
 *
 * 1. First run: create .env from .env.example with a fresh MASTER_KEY, PLATFORM_ADMIN_KEY and WEBHOOK_SECRET_KEY (mode 0600).
 * 2. Check that PostgreSQL and Redis answer; if not, say in one line how to start them and exit 1.
 * 3. Build (skip with --no-build), create the database if missing, run migrations.
 * 4. Run gateway, signer and enroll with prefixed logs; MASTER_KEY goes to the signer alone.
 * 5. Wait for every /healthz, then print the gateway URL and a curl line that works.
 * Supervision: a service that dies on its own is started again after a backoff that doubles with each
 * recent restart (START_RESTART_DELAY_MS up to START_RESTART_MAX_DELAY_MS), the others keep serving; more
 * than START_RESTART_LIMIT restarts of one service within START_RESTART_WINDOW_MS is a crash loop: then
 * all are stopped and this process exits 1. Ctrl-C (or SIGTERM) stops the three gracefully (exit 0).
 * SIGNET_ENV_FILE names another file than .env (tests use it).
 *
 * Plain CommonJS with no dependencies of its own (only `pg`, already a dependency of the apps), so it runs
 * before anything is built.
 */
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');

const ROOT = path.join(__dirname, '..');
const ENV_FILE = process.env.SIGNET_ENV_FILE ? path.resolve(process.env.SIGNET_ENV_FILE) : path.join(ROOT, '.env');
const ENV_EXAMPLE = path.join(ROOT, '.env.example');
const MIGRATION_CLI = 'dist/libs/persistence/src/cli.js';
const HEALTH_TIMEOUT_MS = 120_000;
// The services give up on a graceful stop after 25 s themselves; this is only the backstop.
const STOP_GRACE_MS = 30_000;

const SERVICES = [
  { name: 'gateway', main: 'dist/apps/api-gateway/src/main.js', healthPort: (env) => env.PORT || '3000' },
  { name: 'signer', main: 'dist/apps/signer/src/main.js', healthPort: (env) => env.SIGNER_HEALTH_PORT || '8082' },
  { name: 'enroll', main: 'dist/apps/enroll/src/main.js', healthPort: (env) => env.ENROLL_HEALTH_PORT || '8081' },
];

/** The restart policy: env name, default, least value. */
const POLICY = {
  delayMs: ['START_RESTART_DELAY_MS', 1000, 0],
  maxDelayMs: ['START_RESTART_MAX_DELAY_MS', 30_000, 0],
  limit: ['START_RESTART_LIMIT', 5, 0],
  windowMs: ['START_RESTART_WINDOW_MS', 60_000, 1],
};

/** Each secret and the one service allowed to see it; every other process gets neither. */
const SECRET_OWNER = { MASTER_KEY: 'signer', PLATFORM_ADMIN_KEY: 'gateway', WEBHOOK_SECRET_KEY: 'gateway' };

// ---------------------------------------------------------------------------------------------- output

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const COLORS = { gateway: 36, signer: 35, enroll: 33, start: 32 };
const WIDTH = Math.max(...Object.keys(COLORS).map((name) => name.length)) + 2;

function prefix(name) {
  const label = `[${name}]`.padEnd(WIDTH);
  return useColor ? `\x1b[${COLORS[name]}m${label}\x1b[0m` : label;
}

function say(name, line, stream = process.stdout) {
  stream.write(`${prefix(name)} ${line}\n`);
}

/** process.exit, once what was written has left: to a pipe, stdout and stderr are asynchronous. */
function exitAfterFlush(code) {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/** One line and exit 1, at once: nothing after a call runs. */
function fail(line) {
  fs.writeSync(2, `signet start: ${line}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------------------------------ .env file

function generatedSecrets() {
  return {
    MASTER_KEY: randomBytes(32).toString('base64'),
    PLATFORM_ADMIN_KEY: `sgn_platform_${randomBytes(32).toString('base64url')}`,
    WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
  };
}

/** Fills `NAME=` lines left empty; returns the names it filled. */
function fillEmptySecrets(text) {
  const filled = [];
  for (const [name, value] of Object.entries(generatedSecrets())) {
    const empty = new RegExp(`^${name}=[ \\t]*$`, 'm');
    if (empty.test(text)) {
      text = text.replace(empty, `${name}=${value}`);
      filled.push(name);
    }
  }
  return { text, filled };
}

/**
 * First run: .env from .env.example. A .env copied by hand with the secrets left empty gets them filled
 * too, so `cp .env.example .env` followed by `npm start` also works. The values are never printed.
 */
function ensureEnvFile() {
  const exists = fs.existsSync(ENV_FILE);
  const { text, filled } = fillEmptySecrets(fs.readFileSync(exists ? ENV_FILE : ENV_EXAMPLE, 'utf8'));
  if (exists && filled.length === 0) return;
  fs.writeFileSync(ENV_FILE, text, { mode: 0o600 });
  fs.chmodSync(ENV_FILE, 0o600); // writeFileSync's mode applies only when it creates the file
  const what = filled.length ? `new ${filled.join(' and ')}` : 'the defaults';
  say('start', `${exists ? 'filled in' : 'created'} .env with ${what} (mode 0600, not in git: keep a copy of MASTER_KEY safe)`);
}

/** KEY=value lines, `#` comments, optional `export ` and surrounding quotes; nothing else. */
function parseEnv(text) {
  const env = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const quoted = /^(["'])(.*)\1$/.exec(match[2]);
    env[match[1]] = quoted ? quoted[2] : match[2];
  }
  return env;
}

/** .env, then the real environment on top: an exported variable always wins. Empty values mean unset. */
function loadEnv() {
  const env = { ...parseEnv(fs.readFileSync(ENV_FILE, 'utf8')), ...process.env };
  for (const [key, value] of Object.entries(env)) if (value === '') delete env[key];
  env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/signet';
  env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  return env;
}

/** The restart policy from the environment; a malformed value stops here, in one line naming it. */
function restartPolicy(env) {
  const policy = {};
  for (const [key, [name, fallback, least]] of Object.entries(POLICY)) {
    const raw = env[name];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isSafeInteger(value) || value < least) fail(`${name} must be a whole number >= ${least} (got ${JSON.stringify(raw)})`);
    policy[key] = value;
  }
  return policy;
}

/** The environment of one process: the shared one minus the secrets it has no business holding. */
function envFor(name, env) {
  const own = { ...env };
  for (const [secret, owner] of Object.entries(SECRET_OWNER)) if (owner !== name) delete own[secret];
  return own;
}

// ------------------------------------------------------------------------------------- store checks

/** host:port of a URL, never its credentials (a DATABASE_URL may hold a password). */
function where(url, defaultPort) {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || defaultPort}`;
}

/** Redis answers when a PING gets a reply; NOAUTH counts (the services authenticate with REDIS_URL). */
function redisAnswers(url) {
  return new Promise((resolve) => {
    const { hostname, port, protocol } = new URL(url);
    const options = { host: hostname, port: Number(port) || 6379, servername: hostname };
    const socket = protocol === 'rediss:' ? tls.connect(options) : net.connect(options);
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('error', () => done(false));
    socket.once(protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

/**
 * 'up', 'down' (nothing listening: start it) or an error line (it answers but refuses us).
 * A missing database counts as up: `create-db` makes it next.
 */
async function postgresState(url) {
  let pg;
  try {
    pg = require('pg');
  } catch {
    fail('the `pg` package is missing: run `npm ci` first');
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {}); // a late socket error must not crash the check
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'up';
  } catch (error) {
    if (error.code === '3D000') return 'up';
    const unreachable = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH'];
    if (unreachable.includes(error.code) || /timeout|terminated/i.test(error.message)) return 'down';
    return error.message;
  } finally {
    client.end().catch(() => {});
  }
}

function postgresStartCommand() {
  let versions = [];
  try {
    versions = fs.readdirSync('/etc/postgresql');
  } catch {
    // not a Debian-style install: name the command with a placeholder
  }
  return `pg_ctlcluster --skip-systemctl-redirect ${versions[0] || '<version>'} main start`;
}

/** One line each, naming the fix, and exit 1: nothing else can work without both stores. */
async function checkStores(env) {
  const compose = '`docker compose up -d postgres redis`';
  const pgState = await postgresState(env.DATABASE_URL);
  if (pgState === 'down') {
    fail(
      `PostgreSQL does not answer at ${where(env.DATABASE_URL, 5432)} (DATABASE_URL): start it with ` +
        `\`${postgresStartCommand()}\`, or with ${compose} and DATABASE_URL=postgres://signet:signet@127.0.0.1:5432/signet`,
    );
  }
  if (pgState !== 'up') fail(`PostgreSQL at ${where(env.DATABASE_URL, 5432)} refused the connection: ${pgState} (check DATABASE_URL)`);
  if (!(await redisAnswers(env.REDIS_URL))) {
    fail(`Redis does not answer at ${where(env.REDIS_URL, 6379)} (REDIS_URL): start it with \`redis-server --daemonize yes\`, or with ${compose}`);
  }
}

// --------------------------------------------------------------------------------- build and migrate

function runStep(description, command, args, env) {
  say('start', description);
  const result = spawnSync(command, args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) fail(`${description}: ${result.error.message}`);
  if (result.status !== 0) fail(`${description} failed (${command} ${args.join(' ')})`);
}

function buildAndMigrate(env) {
  // The build and the migration CLI need no secret, so they get none.
  const plain = envFor('none', env);
  if (process.argv.includes('--no-build')) {
    if (!fs.existsSync(path.join(ROOT, MIGRATION_CLI))) fail('--no-build, but dist/ is missing: run `npm run build`');
  } else {
    runStep('building (npm run build; skip with --no-build)', 'npm', ['run', '--silent', 'build'], plain);
  }
  runStep('creating the database if missing', process.execPath, [MIGRATION_CLI, 'create-db'], plain);
  runStep('running migrations', process.execPath, [MIGRATION_CLI, 'run'], plain);
}

// ------------------------------------------------------------------------------------------ services

/** Child output, line by line, behind its coloured name; a last line without a newline is kept too. */
function pipeLines(stream, name, target) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) say(name, line, target);
  });
  stream.on('end', () => pending && say(name, pending, target));
}

function startService(service, env) {
  const child = spawn(process.execPath, [service.main], {
    cwd: ROOT,
    env: envFor(service.name, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLines(child.stdout, service.name, process.stdout);
  pipeLines(child.stderr, service.name, process.stderr);
  return child;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** True once /healthz answers 200; false if the supervisor stops or time runs out (restarts included). */
async function waitForHealth(port, supervisor) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (supervisor.stopping) return false;
    if (await healthy(port)) return true;
    await sleep(250);
  }
  return false;
}

const why = (code, signal) => (signal ? `signal ${signal}` : `exit code ${code}`);
const seconds = (ms) => `${Number((ms / 1000).toFixed(1))} s`;

/**
 * Runs the children and owns their end. A child that dies on its own is started again after a backoff
 * (doubling with each restart of that service within the window), the others untouched; more restarts
 * than the limit within the window is a crash loop: stop the rest and exit 1. A requested stop (signal)
 * exits 0 once all have exited cleanly.
 */
function createSupervisor(env, policy) {
  const children = new Map();
  const timers = new Map();
  const restarts = new Map();
  const supervisor = { stopping: false, exitCode: 0, children };

  const exitIfDone = () => {
    if (supervisor.stopping && children.size === 0) exitAfterFlush(supervisor.exitCode);
  };

  supervisor.stopAll = (reason) => {
    if (supervisor.stopping) return;
    supervisor.stopping = true;
    if (reason) say('start', reason);
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    // SIGTERM even when we got SIGINT: a terminal's Ctrl-C already sent the children SIGINT (same process
    // group), and a second SIGINT would hit Node's default handler and kill them mid-shutdown.
    for (const child of children.values()) child.kill('SIGTERM');
    setTimeout(() => supervisor.killAll('did not stop in time'), STOP_GRACE_MS).unref();
    exitIfDone();
  };

  supervisor.killAll = (reason) => {
    if (children.size === 0) return;
    say('start', `${reason}: killing ${[...children.keys()].join(', ')}`);
    for (const child of children.values()) child.kill('SIGKILL');
  };

  /** A death not asked for: restart after the backoff, or give up on a crash loop. */
  const onUnexpectedExit = (service, code, signal) => {
    const now = Date.now();
    const recent = (restarts.get(service.name) ?? []).filter((at) => now - at < policy.windowMs);
    recent.push(now);
    restarts.set(service.name, recent);
    if (recent.length > policy.limit) {
      supervisor.exitCode = 1;
      say('start', `crash loop: ${service.name} died ${recent.length} times within ${seconds(policy.windowMs)} (last: ${why(code, signal)}; ` +
        `START_RESTART_LIMIT=${policy.limit} restarts allowed in START_RESTART_WINDOW_MS=${policy.windowMs}); giving up`, process.stderr);
      supervisor.stopAll(`stopping the others after ${service.name}'s crash loop; exit 1`);
      return;
    }
    const delay = Math.min(policy.maxDelayMs, policy.delayMs * 2 ** (recent.length - 1));
    say('start', `${service.name} exited unexpectedly (${why(code, signal)}); restarting it in ${seconds(delay)} (restart ${recent.length} of at most ${policy.limit} within ${seconds(policy.windowMs)}), the others keep running`);
    timers.set(service.name, setTimeout(() => {
      timers.delete(service.name);
      if (supervisor.stopping) return;
      const child = supervisor.start(service);
      waitForHealth(service.healthPort(env), supervisor).then((ok) => {
        if (ok && children.get(service.name) === child) say('start', `${service.name} is answering again (pid ${child.pid})`);
      });
    }, delay));
  };

  supervisor.start = (service) => {
    const child = startService(service, env);
    children.set(service.name, child);
    say('start', `started ${service.name} (pid ${child.pid})`);
    // 'close', not 'exit': it comes after the child's last output lines have been read.
    child.on('close', (code, signal) => {
      if (children.get(service.name) === child) children.delete(service.name);
      if (!supervisor.stopping) onUnexpectedExit(service, code, signal);
      else if (code !== 0) supervisor.exitCode = 1;
      exitIfDone();
    });
    return child;
  };

  return supervisor;
}

/** First signal: graceful stop. A second one: the user means it, kill what is left. */
function handleSignals(supervisor) {
  const onSignal = (signal) => {
    if (supervisor.stopping) supervisor.killAll(`second ${signal}`);
    else supervisor.stopAll(`${signal}: stopping gateway, signer and enroll`);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);
}

/**
 * Under `npm start`, npm and its `sh -c` die on SIGTERM without passing it on, which would leave this
 * process and the services running with no parent. Reparenting is the sign: stop then.
 */
function stopWhenOrphaned(supervisor) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) supervisor.stopAll('parent process exited: stopping gateway, signer and enroll');
  }, 1000).unref();
}

function printReady(env) {
  const url = `http://127.0.0.1:${env.PORT || 3000}`;
  // Point at .env rather than print the key; an exported PLATFORM_ADMIN_KEY is already in the shell.
  const key = process.env.PLATFORM_ADMIN_KEY ? '$PLATFORM_ADMIN_KEY' : '$(grep ^PLATFORM_ADMIN_KEY= .env | cut -d= -f2-)';
  say('start', `Signet is up: gateway ${url} (OpenAPI ${url}/api/v1/openapi.json, Swagger UI ${url}/docs)`);
  say('start', `enroll: mTLS on :${env.ENROLL_PORT || 8443}; health ports: signer ${env.SIGNER_HEALTH_PORT || 8082}, enroll ${env.ENROLL_HEALTH_PORT || 8081}`);
  say('start', `try: curl -H "Authorization: Bearer ${key}" ${url}/api/v1/platform/orgs`);
  say('start', 'Ctrl-C stops all three');
}

async function main() {
  ensureEnvFile();
  const env = loadEnv();
  const policy = restartPolicy(env);
  await checkStores(env);
  buildAndMigrate(env);

  const supervisor = createSupervisor(env, policy);
  handleSignals(supervisor);
  stopWhenOrphaned(supervisor);
  for (const service of SERVICES) supervisor.start(service);
  const results = await Promise.all(SERVICES.map((service) => waitForHealth(service.healthPort(env), supervisor)));
  if (supervisor.stopping) return; // a crash loop or a signal: the supervisor is already on it
  const late = SERVICES.filter((_, i) => !results[i]).map((service) => service.name);
  if (late.length) {
    supervisor.exitCode = 1;
    supervisor.stopAll(`${late.join(', ')} did not answer /healthz within ${HEALTH_TIMEOUT_MS / 1000} s; stopping`);
    return;
  }
  printReady(env);
}

main().catch((error) => fail(error.message));
