#!/usr/bin/env node
/**
 * What hearing of a signer job's end costs a producer (issue 17): the built SignerClient of a tree
 * (`--root`, default this one) runs jobs against a stand-in worker (a child process that answers each
 * job at once with an outcome of `--items` certificates' size and, when the job names a replies channel,
 * publishes the reply there as the signer does). Prints the CPU per job of the producer that waits, and of
 * a second producer that only listens (an idle gateway beside a busy enroll server: with BullMQ
 * QueueEvents it reads every event of the queue). CPU from process.cpuUsage and /proc, so other work on
 * the machine moves it far less than a throughput.
 *
 *   npm run build && node bench/replies.js [--root ../other-tree] [--jobs 3000] [--concurrency 8] [--items 10]
 */
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { randomBytes, randomUUID } = require('node:crypto');
const { parseArgs, log, machineLine, ROOT } = require('./lib/harness');

const { arg } = parseArgs();
const TREE = path.resolve(arg('root', ROOT));
const JOBS = Number(arg('jobs', '3000'));
const CONCURRENCY = Number(arg('concurrency', '8'));
const ITEMS = Number(arg('items', '10'));
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'main';
const require_ = (p) => require(path.join(TREE, 'node_modules', p));

/** CPU seconds a process used so far (utime + stime from /proc). */
function cpuOf(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function worker(prefix) {
  const { Worker } = require_('bullmq');
  const Redis = require_('ioredis');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const publisher = new Redis(REDIS_URL);
  // An outcome the size of an issueMany's with the stored rows (about 2,100 characters a certificate).
  const outcome = { outcomes: Array.from({ length: ITEMS }, () => ({ certificateId: randomUUID(), certificate: { certificateDer: randomBytes(1500).toString('base64') } })) };
  const w = new Worker('signer', async () => outcome, { connection, prefix, concurrency: 32 });
  w.on('completed', (job, returnvalue) => {
    if (typeof job.data?.replyTo === 'string') void publisher.publish(job.data.replyTo, JSON.stringify({ jobId: String(job.id), returnvalue }));
  });
  process.send('ready');
}

async function listener(prefix) {
  const { SignerClient } = require(path.join(TREE, 'dist/libs/service/src/index.js'));
  const client = new SignerClient({ REDIS_URL, QUEUE_PREFIX: prefix });
  // One job to connect (and, with QueueEvents, to start reading the queue's events), then only listen.
  await client.run('certificate.check', { items: [] }, `listen-${randomUUID()}`);
  process.send('ready');
  process.on('message', async (m) => {
    if (m === 'stop') {
      await client.onApplicationShutdown();
      process.exit(0);
    }
  });
}

async function main() {
  const prefix = `signet-bench-${randomBytes(4).toString('hex')}`;
  const children = [];
  const start = (r) => new Promise((resolve) => {
    const child = fork(__filename, ['--role', r, '--prefix', prefix, '--root', TREE, '--items', String(ITEMS)]);
    children.push(child);
    child.once('message', () => resolve(child));
  });
  const Redis = require_('ioredis');
  try {
    await start('worker');
    const idle = await start('listener');
    const { SignerClient } = require(path.join(TREE, 'dist/libs/service/src/index.js'));
    const client = new SignerClient({ REDIS_URL, QUEUE_PREFIX: prefix });
    const runOne = () => client.run('certificate.check', { items: [] }, `job-${randomUUID()}`);
    for (let i = 0; i < 200; i++) await runOne();
    log(`replies bench, ${machineLine()}`);
    log(`  tree ${TREE}, ${JOBS} jobs, ${CONCURRENCY} at a time, outcomes of ${ITEMS} certificates`);
    for (let pass = 1; pass <= 3; pass++) {
      const cpu0 = process.cpuUsage();
      const idle0 = cpuOf(idle.pid);
      const started = Date.now();
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < JOBS) await runOne();
      }));
      const used = process.cpuUsage(cpu0);
      const perJob = (used.user + used.system) / JOBS;
      const idlePerJob = ((cpuOf(idle.pid) - idle0) * 1e6) / JOBS;
      log(`  pass ${pass}: ${Math.round(JOBS / ((Date.now() - started) / 1000))} jobs/s; waiting producer ${perJob.toFixed(0)} us CPU per job, listening producer ${idlePerJob.toFixed(0)} us`);
    }
    await client.onApplicationShutdown();
    idle.send('stop');
  } finally {
    for (const c of children) c.kill();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}

const prefixArg = process.argv.includes('--prefix') ? process.argv[process.argv.indexOf('--prefix') + 1] : null;
if (role === 'worker') void worker(prefixArg);
else if (role === 'listener') void listener(prefixArg);
else main().catch((error) => {
  console.error(error);
  process.exit(1);
});
