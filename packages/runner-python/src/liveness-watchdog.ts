import type { Clock } from '@inferkit/inference-core';
import type { AliveFrame, LivenessFrame } from './protocol.js';

/** What the watchdog watches; `PythonWorker` provides it. */
export interface LivenessTarget {
  /** Sends a ping on the liveness pipe. */
  ping(frame: LivenessFrame): void;
  /** Bytes of an incomplete frame held back by the frame decoder. */
  pendingFrameBytes(): number;
  /** Bytes received on the frame pipe so far. */
  frameBytesReceived(): number;
  /** The worker is gone for all practical purposes: fail it with this reason. */
  trip(reason: string): void;
}

/**
 * Pings the worker's liveness thread every `intervalMs` and trips when, for longer than
 * `timeoutMs`:
 * - no answer arrived (the process is stopped, or native code holds the GIL),
 * - the answers report the worker's event loop stalled (an engine that blocks it: `time.sleep`
 *   or CPU-bound work inside `generate`), or
 * - a partial frame sat in the decoder with no byte arriving (a worker that wrote half a frame
 *   and went silent).
 * Every request would otherwise hang without an error. A tick that fires late (the host's own
 * event loop was blocked) restarts the measurements instead of blaming the worker for it.
 */
export class LivenessWatchdog {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly target: LivenessTarget;
  private timer: unknown;
  private nonce: number;
  private lastTickAt: number;
  private lastAliveAt: number;
  private loopLagMs: number;
  private stallBytes: number;
  private stallSince: number | null;
  private readonly tick: () => void;

  constructor(clock: Clock, intervalMs: number, timeoutMs: number, target: LivenessTarget) {
    this.clock = clock;
    this.intervalMs = intervalMs;
    this.timeoutMs = timeoutMs;
    this.target = target;
    this.timer = null;
    this.nonce = 0;
    this.lastTickAt = 0;
    this.lastAliveAt = 0;
    this.loopLagMs = 0;
    this.stallBytes = -1;
    this.stallSince = null;
    this.tick = () => this.onTick();
  }

  /** Milliseconds since the last answer (for health reports). */
  sinceAliveMs(): number {
    return this.clock.now() - this.lastAliveAt;
  }

  start(): void {
    if (this.timer !== null) return;
    const now = this.clock.now();
    this.lastTickAt = now;
    this.lastAliveAt = now;
    this.send();
    this.timer = this.clock.setTimeout(this.tick, this.intervalMs);
  }

  stop(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** An answer from the liveness thread. */
  alive(frame: AliveFrame): void {
    this.lastAliveAt = this.clock.now();
    this.loopLagMs = frame.loopLagMs;
  }

  private onTick(): void {
    this.timer = null;
    const now = this.clock.now();
    if (now - this.lastTickAt > 2 * this.intervalMs) {
      // We were not scheduled on time: whatever we would measure now is our own delay.
      this.lastAliveAt = now;
      this.loopLagMs = 0;
      this.stallBytes = -1; // re-arms the partial-frame measurement from now
    }
    this.lastTickAt = now;
    const reason = this.check(now);
    if (reason !== null) {
      this.target.trip(reason);
      return;
    }
    this.send();
    this.timer = this.clock.setTimeout(this.tick, this.intervalMs);
  }

  private check(now: number): string | null {
    const silent = now - this.lastAliveAt;
    if (silent > this.timeoutMs) {
      return `did not answer liveness pings for ${Math.round(silent)} ms (stopped, or native code held the GIL)`;
    }
    if (this.loopLagMs > this.timeoutMs) {
      return `had its event loop blocked for ${this.loopLagMs} ms (the engine blocks the loop, e.g. time.sleep or CPU-bound work in generate; see the stack in its log)`;
    }
    const received = this.target.frameBytesReceived();
    if (this.target.pendingFrameBytes() === 0 || received !== this.stallBytes) {
      this.stallBytes = received;
      this.stallSince = this.target.pendingFrameBytes() === 0 ? null : now;
      return null;
    }
    if (this.stallSince !== null && now - this.stallSince > this.timeoutMs) {
      return `stopped writing in the middle of a frame (${this.target.pendingFrameBytes()} bytes held for ${Math.round(now - this.stallSince)} ms)`;
    }
    return null;
  }

  private send(): void {
    this.target.ping({ type: 'liveness', nonce: ++this.nonce, deadlineMs: this.timeoutMs });
  }
}
