/**
 * Audit retention (issue 18, finding 6): the signer's retention sweep deletes audit events older than
 * AUDIT_RETENTION_DAYS through the database's sanctioned path and records that it did; younger events
 * stay, and an ad-hoc DELETE is still refused. The sweep job goes straight onto a queue of this file's
 * own, to the built signer with the run's PostgreSQL and Redis.
 */
import { SIGNER_JOBS, SIGNER_QUEUE } from '@signet/queue';
import { Job, Queue } from 'bullmq';
import Redis from 'ioredis';
import { RunningService, startSigner, stopService } from '@signet/testing';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

describe('audit retention sweep', () => {
  const prefix = `${process.env.QUEUE_PREFIX}-retention`;
  let signer: RunningService;
  let queue: Queue;
  let connection: Redis;
  /** One retention sweep through the queue; its result read by polling the job (no event subscription to race). */
  const sweep = async (): Promise<{ deleted: number }> => {
    const job = await queue.add(SIGNER_JOBS.auditRetentionSweep, {}, { jobId: `test-retention-${randomUUID()}` });
    for (let i = 0; i < 300; i++) {
      const state = await job.getState();
      if (state === 'completed') return (await Job.fromId(queue, job.id!))!.returnvalue;
      if (state === 'failed') throw new Error(`the sweep failed: ${(await Job.fromId(queue, job.id!))!.failedReason}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the sweep job is still ${await job.getState()} after 30 s`);
  };
  let db: Client;

  beforeAll(async () => {
    signer = await startSigner({ QUEUE_PREFIX: prefix, AUDIT_RETENTION_DAYS: '30' });
    connection = new Redis(process.env.REDIS_URL as string, { maxRetriesPerRequest: null });
    queue = new Queue(SIGNER_QUEUE, { connection, prefix });
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await db?.end();
    if (signer) expect(await stopService(signer)).toBe(0);
  });

  const eventAged = async (days: number): Promise<string> =>
    (await db.query(
      `INSERT INTO audit_events (at, event_type, outcome, actor_type) VALUES (now() - make_interval(days => $1), 'retention.e2e', 'success', 'system') RETURNING id`,
      [days],
    )).rows[0].id;

  it('deletes the events past AUDIT_RETENTION_DAYS, keeps the rest, and records the purge', async () => {
    const old = [await eventAged(31), await eventAged(400)];
    const young = [await eventAged(29), await eventAged(0)];
    // An ad-hoc DELETE is refused (on a young event: an old one may already be gone, purged by the sweep
    // the signer schedules at start, and a DELETE of no row fires no trigger; migrations.spec covers old ones).
    await expect(db.query(`DELETE FROM audit_events WHERE id = $1`, [young[0]])).rejects.toThrow(/append-only/);

    // (The signer's hourly scheduled sweep may get there first: then this one finds nothing left.)
    await sweep();
    const left = (await db.query(`SELECT id FROM audit_events WHERE id = ANY($1)`, [[...old, ...young]])).rows.map((r) => r.id).sort();
    expect(left).toEqual([...young].sort());
    const purge = (await db.query(`SELECT actor_type, actor_name, details FROM audit_events WHERE event_type = 'audit.purge' ORDER BY seq DESC LIMIT 1`)).rows[0];
    expect(purge).toMatchObject({ actor_type: 'system', actor_name: 'audit-retention', details: { retentionDays: 30 } });
    expect(purge.details.deleted).toBeGreaterThanOrEqual(1);

    // Nothing left to delete: the next sweep deletes nothing, and says nothing.
    expect(await sweep()).toEqual({ deleted: 0 });
  });
});
