/** Local serving capacity of a deployment. */
export interface Serving {
  /** Requests in flight at once; `undefined` = unlimited. */
  maxConcurrent?: number;
  /**
   * When all slots are busy: `'reject'` → fail at once with `backpressure`; `'queue'` → wait
   * (FIFO) for a slot, bounded by `maxQueueLength` / `maxQueueWaitMs`. Default `'queue'`.
   */
  onCapacityExhausted?: 'reject' | 'queue';
  /** Most requests waiting for a slot (with `'queue'`); more fail with `backpressure`. */
  maxQueueLength?: number;
  /** Longest wait for a slot (ms, with `'queue'`); longer fails with `backpressure`. */
  maxQueueWaitMs?: number;
  /**
   * How long a handle resolved by `supervise`'s `execute` may go unread (no `next()`, no
   * `cancel()`) before it is cancelled and its slots are freed (ms, default 60,000; `Infinity` in
   * code = never). A caller that drops a handle would otherwise hold its slot for good.
   */
  abandonedHandleMs?: number;
}

/** `Serving.abandonedHandleMs` when not given (also the router's `abandonedHandleMs`). */
export const DEFAULT_ABANDONED_HANDLE_MS = 60_000;
