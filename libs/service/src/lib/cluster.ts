/**
 * Several copies of a stateless HTTP service on one host, sharing its port (node:cluster).
 *
 * Everything a gateway replica shares with another lives in PostgreSQL and Redis (key revocations,
 * rate-limit counters), so workers here are simply replicas that happen to share a machine. The
 * primary only forks, restarts nothing (a supervisor does that for the whole process) and relays
 * SIGTERM/SIGINT so that each worker shuts down gracefully; it exits once they all have.
 */
import cluster from 'node:cluster';

export async function runClustered(workers: number, startWorker: () => Promise<void>): Promise<void> {
  if (workers <= 1 || !cluster.isPrimary) return startWorker();
  let stopping = false;
  let failed = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  const stopAll = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  cluster.on('exit', (_worker, code) => {
    if (code !== 0) failed = true;
    // A worker that dies on its own takes the service down with it: the supervisor restarts it whole.
    if (!stopping) stopAll();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
  });
  process.once('SIGTERM', stopAll);
  process.once('SIGINT', stopAll);
}
