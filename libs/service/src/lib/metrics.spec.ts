import { Counter, Histogram, Registry } from 'prom-client';
import { startAtZero } from './metrics';

describe('startAtZero', () => {
  it('exports every combination of the known label values at 0, and counting goes on from there', async () => {
    const registry = new Registry();
    const jobs = new Counter({ name: 'jobs_total', help: 'jobs', labelNames: ['job', 'outcome'] as const, registers: [registry] });
    startAtZero(jobs, { job: ['a', 'b'], outcome: ['completed', 'refused', 'failed'] });
    jobs.inc({ job: 'b', outcome: 'failed' });
    const { values } = await jobs.get();
    expect(values.map((v) => `${v.labels.job} ${v.labels.outcome} ${v.value}`).sort()).toEqual([
      'a completed 0', 'a failed 0', 'a refused 0', 'b completed 0', 'b failed 1', 'b refused 0',
    ]);
  });

  it('gives a histogram each label set with empty buckets, count and sum', async () => {
    const registry = new Registry();
    const duration = new Histogram({ name: 'duration_seconds', help: 'run time', labelNames: ['job'] as const, buckets: [1, 5], registers: [registry] });
    startAtZero(duration, { job: ['a', 'b'] });
    const text = await registry.metrics();
    for (const job of ['a', 'b']) {
      expect(text).toContain(`duration_seconds_bucket{le="+Inf",job="${job}"} 0`);
      expect(text).toContain(`duration_seconds_count{job="${job}"} 0`);
    }
  });
});
