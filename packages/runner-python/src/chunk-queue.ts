/**
 * The stream of one request between the frame reader (producer) and its `RunHandle` (consumer).
 * Chunks are buffered until read; the buffer is bounded by what the worker sends for one request,
 * and the worker batches tokens, so it stays small.
 */
import type { InferenceError, TokenChunk } from '@inferkit/inference-core';

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export class ChunkQueue implements AsyncIterableIterator<TokenChunk> {
  private readonly items: TokenChunk[];
  private head: number;
  private ended: boolean;
  private error: InferenceError | null;
  private waiter: ((result: IteratorResult<TokenChunk>) => void) | null;
  private failWaiter: ((err: unknown) => void) | null;

  constructor() {
    this.items = [];
    this.head = 0;
    this.ended = false;
    this.error = null;
    this.waiter = null;
    this.failWaiter = null;
  }

  push(chunk: TokenChunk): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      this.failWaiter = null;
      waiter({ done: false, value: chunk });
      return;
    }
    this.items.push(chunk);
  }

  /** No more chunks; buffered ones are still delivered. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
  }

  /** Fails the stream after the buffered chunks. */
  fail(err: InferenceError): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    this.wake();
  }

  next(): Promise<IteratorResult<TokenChunk>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as TokenChunk;
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return this.error !== null ? Promise.reject(this.error) : Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** The consumer stopped: drop whatever is buffered. */
  return(): Promise<IteratorResult<TokenChunk>> {
    this.ended = true;
    this.items.length = 0;
    this.head = 0;
    this.wake();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private wake(): void {
    const resolve = this.waiter;
    const reject = this.failWaiter;
    this.waiter = null;
    this.failWaiter = null;
    if (resolve === null) return;
    if (this.error !== null) reject!(this.error);
    else resolve(DONE);
  }
}
