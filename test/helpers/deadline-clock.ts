/**
 * A clock for the onnxruntime hosts' deadlines that only the test moves (setOrtHostDeadlineClockForTests):
 * a deadline runs out when the test advances the clock past it or expires it, never because the machine
 * is slow. Every start and restart of a deadline (a new request at the head of the queue, or a beat of a
 * running simulation) is recorded, so a test can wait for the request it means.
 */
import type { DeadlineClock, RequestMeta } from '../../src/adapters/onnx/host.js';

type Head = RequestMeta & { id: number };

interface Deadline {
  expire: () => void;
  head: Head;
  /** Virtual milliseconds since it was (re)started. */
  elapsed: number;
  live: boolean;
}

export interface ManualClock {
  clock: DeadlineClock;
  /** Every (re)start, in order: the request at the head of the queue each time. */
  readonly starts: Head[];
  /** Resolves with the first (re)start at or after index `from` that matches. */
  next(match: (head: Head) => boolean, from?: number): Promise<{ head: Head; index: number }>;
  /** Moves every live deadline `ms` virtual milliseconds on; the ones that reach their limit run out. */
  advance(ms: number): void;
  /** Runs out the live deadline whose current request matches (a request that hangs forever). */
  expire(match: (head: Head) => boolean): void;
}

export function manualClock(): ManualClock {
  const deadlines: Deadline[] = [];
  const starts: Head[] = [];
  let wake: (() => void)[] = [];
  const record = (head: Head): void => {
    starts.push({ ...head });
    const w = wake;
    wake = [];
    for (const f of w) f();
  };
  const clock: DeadlineClock = (expire, head) => {
    const d: Deadline = { expire, head, elapsed: 0, live: true };
    deadlines.push(d);
    record(head);
    return {
      restart(next) {
        d.head = next;
        d.elapsed = 0;
        d.live = true;
        record(next);
      },
      clear() {
        d.live = false;
      },
    };
  };
  const runOut = (d: Deadline): void => {
    d.live = false;
    d.expire();
  };
  return {
    clock,
    starts,
    async next(match, from = 0) {
      for (;;) {
        const index = starts.findIndex((h, i) => i >= from && match(h));
        if (index >= 0) return { head: starts[index]!, index };
        await new Promise<void>((resolve) => wake.push(resolve));
      }
    },
    advance(ms) {
      for (const d of deadlines) {
        if (!d.live) continue;
        d.elapsed += ms;
        if (d.elapsed >= d.head.timeoutMs) runOut(d);
      }
    },
    expire(match) {
      const d = deadlines.find((x) => x.live && match(x.head));
      if (!d) throw new Error('no live deadline matches');
      runOut(d);
    },
  };
}
