import type { AddonTokenEvent } from './binding/addon-types.js';

/** Marks a queue closed by the consumer (cancel/break): the reader stops without an error. */
export const QUEUE_CLOSED: unique symbol = Symbol('inferkit.runner-cuda.queue-closed');

/**
 * Hands engine events from the addon's thread-safe callback to one async reader. The callback
 * never waits: events are buffered until read, and a pending read is resolved directly.
 */
export class EngineEventQueue {
  private readonly buffered: AddonTokenEvent[];
  private waiter: ((e: AddonTokenEvent | typeof QUEUE_CLOSED) => void) | null;
  private closed: boolean;

  constructor() {
    this.buffered = [];
    this.waiter = null;
    this.closed = false;
  }

  /** Called by the addon for every event of the request. */
  readonly push = (event: AddonTokenEvent): void => {
    if (this.closed) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w(event);
    } else {
      this.buffered.push(event);
    }
  };

  /** Next event, or `QUEUE_CLOSED` once `close()` was called. */
  next(): Promise<AddonTokenEvent | typeof QUEUE_CLOSED> {
    if (this.buffered.length > 0) return Promise.resolve(this.buffered.shift()!);
    if (this.closed) return Promise.resolve(QUEUE_CLOSED);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Stops delivery; a pending `next()` resolves with `QUEUE_CLOSED`. */
  close(): void {
    this.closed = true;
    this.buffered.length = 0;
    const w = this.waiter;
    this.waiter = null;
    if (w !== null) w(QUEUE_CLOSED);
  }
}
