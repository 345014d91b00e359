/**
 * Readiness: PostgreSQL and Redis each answer within a short deadline. Liveness says nothing about
 * dependencies (a restart would not fix a database outage), readiness says everything.
 */
import type Redis from 'ioredis';
import type { DataSource } from 'typeorm';

export interface CheckResult {
  status: 'up' | 'down';
  error?: string;
  latencyMs?: number;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  checks: Record<string, CheckResult>;
}

export type Check = () => Promise<unknown>;

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export const postgresCheck = (dataSource: DataSource): Check => () => dataSource.query('SELECT 1');

/** ioredis queues commands while disconnected, so a down Redis shows up as a timeout, not an error. */
export const redisCheck = (redis: Redis): Check => async () => {
  if (redis.status !== 'ready') throw new Error(`redis connection is ${redis.status}`);
  return redis.ping();
};

export async function runChecks(checks: Record<string, Check>, timeoutMs = 1500): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const started = Date.now();
      try {
        await withDeadline(check(), timeoutMs, name);
        return [name, { status: 'up', latencyMs: Date.now() - started }];
      } catch (err) {
        return [name, { status: 'down', error: (err as Error).message }];
      }
    }),
  );
  const results = Object.fromEntries(entries);
  const ready = entries.every(([, r]) => r.status === 'up');
  return { status: ready ? 'ready' : 'not_ready', checks: results };
}
