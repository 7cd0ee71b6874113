import { InferenceError } from '@inferkit/inference-core';
import type { HttpTimeouts } from './timeouts.js';

/** What the watchdog watches: a chunk counter and a way to fail the request. */
export interface WatchedStream {
  /** Chunks delivered so far. */
  readonly progress: number;
  /** Tears the request down with `error`. */
  abort(error: InferenceError): void;
}

/**
 * Times a stream by its output rather than its bytes, so keep-alive comments and `ping` events
 * (which keep a socket busy without producing anything) cannot hold a request open: no output
 * within `firstByteMs` of the request → `timeout` phase `first_byte`; after the first output,
 * none for `idleMs` → phase `idle`.
 *
 * The stream only increments a counter per chunk; the watchdog samples it every quarter of the
 * shorter deadline, so the hot path takes no clock reading and re-arms no timer. A deadline is
 * therefore detected up to a quarter of it late.
 */
export class OutputWatchdog {
  private readonly stream: WatchedStream;
  private readonly firstByteMs: number;
  private readonly idleMs: number;
  private readonly provider: string;
  private readonly startedAt: number;
  private seen: number;
  private seenAt: number;
  private timer: ReturnType<typeof setInterval> | null;

  constructor(stream: WatchedStream, timeouts: HttpTimeouts, provider: string) {
    this.stream = stream;
    this.firstByteMs = timeouts.firstByteMs;
    this.idleMs = timeouts.idleMs;
    this.provider = provider;
    this.startedAt = performance.now();
    this.seen = 0;
    this.seenAt = this.startedAt;
    this.timer = setInterval(() => this.check(), Math.max(1, Math.min(this.firstByteMs, this.idleMs) / 4));
    // The socket keeps the process alive while the request runs; the watchdog alone must not.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    const now = performance.now();
    const progress = this.stream.progress;
    if (progress !== this.seen) {
      this.seen = progress;
      this.seenAt = now;
      return;
    }
    if (progress === 0) {
      if (now - this.startedAt >= this.firstByteMs) this.fire('first_byte', this.firstByteMs, 'no output');
    } else if (now - this.seenAt >= this.idleMs) {
      this.fire('idle', this.idleMs, 'no output for');
    }
  }

  private fire(phase: 'first_byte' | 'idle', timeoutMs: number, what: string): void {
    this.stop();
    this.stream.abort(
      new InferenceError('timeout', `${phase.replace('_', '-')} timeout: ${what} ${phase === 'first_byte' ? 'within ' : ''}${timeoutMs} ms (keep-alives do not count)`, {
        provider: this.provider,
        details: { phase, timeoutMs },
      }),
    );
  }
}
