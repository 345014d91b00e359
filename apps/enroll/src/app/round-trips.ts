/**
 * One round trip for many requests, without waiting on a clock: a request that finds no round trip in
 * flight starts one at once; requests arriving while one is in flight wait for it to end and then travel
 * together in the next. Under load the groups grow with the concurrency; alone, a request pays no delay.
 *
 * Every group starts after each of its requests arrived, so what it reads is at least as new as the
 * request: a revocation committed before an enrollment was sent is seen by that enrollment.
 */
export class RoundTrips<K, V> {
  private waiting: { key: K; resolve: (value: V) => void; reject: (error: unknown) => void }[] = [];
  private busy = false;

  /** `run` answers keys[i] at [i]; a key may repeat (one entry per request). */
  constructor(private readonly run: (keys: K[]) => Promise<V[]>) {}

  get(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ key, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    if (this.busy || !this.waiting.length) return;
    const group = this.waiting;
    this.waiting = [];
    this.busy = true;
    new Promise<V[]>((resolve) => resolve(this.run(group.map((w) => w.key))))
      .then((values) => group.forEach((w, i) => w.resolve(values[i])), (error) => group.forEach((w) => w.reject(error)))
      .finally(() => {
        this.busy = false;
        this.next();
      });
  }
}
