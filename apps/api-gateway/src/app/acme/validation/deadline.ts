/**
 * One validation attempt's time limit. Every network step runs through `bounded`, which ends the
 * step (destroying its socket or cancelling its query) when its share of the time runs out or the
 * whole attempt's deadline passes, so a target that trickles bytes or never answers cannot hold a
 * validation past `timeoutMs`.
 */
import { ProblemKind, ValidationFailure } from './validation-types';

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadline {
  private readonly endsAt: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  /** Resolves when the time is up (never rejects). */
  readonly expired: Promise<void>;

  constructor(timeoutMs: number) {
    // setTimeout takes at most 2^31 - 1 ms (a larger delay fires at once).
    timeoutMs = Math.min(timeoutMs, MAX_TIMER_MS);
    this.endsAt = Date.now() + timeoutMs;
    let expire!: () => void;
    this.expired = new Promise<void>((resolve) => (expire = resolve));
    this.timer = setTimeout(() => {
      this.controller.abort();
      expire();
    }, timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remaining(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Stop the timer once the attempt is over (steps still running are aborted). */
  dispose(): void {
    clearTimeout(this.timer);
    this.controller.abort();
  }
}

export interface StepLimit {
  /** This step's share of the remaining time (it never gets more than the deadline leaves). */
  budgetMs: number;
  /** What the failure says when the step runs out of time. */
  kind: ProblemKind;
  detail: string;
}

/**
 * Run one network step. `start` begins it and returns the function that tears it down; that function
 * runs exactly once, whether the step succeeded, failed or ran out of time.
 */
export function bounded<T>(
  deadline: Deadline,
  limit: StepLimit,
  start: (resolve: (value: T) => void, reject: (error: unknown) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let teardown: (() => void) | undefined;
    const runTeardown = () => {
      try {
        teardown?.();
      } catch {
        // tearing down a socket that is already gone is not an error worth reporting
      }
      teardown = undefined;
    };
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      deadline.signal.removeEventListener('abort', onTimeout);
      runTeardown();
      settle();
    };
    const onTimeout = () => finish(() => reject(new ValidationFailure(limit.kind, limit.detail)));
    const timer = setTimeout(onTimeout, Math.min(limit.budgetMs, deadline.remaining()));
    deadline.signal.addEventListener('abort', onTimeout, { once: true });
    if (deadline.signal.aborted) return onTimeout();
    try {
      teardown = start(
        (value) => finish(() => resolve(value)),
        (error) => finish(() => reject(error)),
      );
    } catch (error) {
      finish(() => reject(error));
    }
    // `start` may have settled synchronously, before its teardown was known.
    if (settled) runTeardown();
  });
}
