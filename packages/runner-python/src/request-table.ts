/**
 * The requests a worker is running, by wire id: each one's `RunHandle` is fed straight from the
 * frames (a `RunHandle.pushable` source, no queue in between). Frames for an id the runner does
 * not know are a protocol violation: a worker sends exactly one last frame per request (final
 * delta, error or aborted) and nothing after it.
 */
import {
  InferenceError,
  RunHandle,
  type RunHandleController,
  type TokenChunk,
} from '@inferkit/inference-core';
import { FrameError } from './frame-codec.js';
import type { AbortedFrame, DeltaFrame, ErrorFrame } from './protocol.js';

const PROVIDER = 'python';

interface Entry {
  wireId: string;
  requestId: string;
  controller: RunHandleController;
  /** The consumer stopped; frames until the worker's last one for it are dropped. */
  cancelled: boolean;
}

export class RequestTable {
  private readonly entries: Map<string, Entry>;
  private seq: number;

  constructor() {
    this.entries = new Map();
    this.seq = 0;
  }

  /** Requests running in the worker or being aborted there. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * A new request. `onCancel(wireId)` runs once if the consumer stops early (cancel, break, its
   * signal); the entry stays until the worker confirms with `aborted` (or its last frame crossed
   * the abort on the wire).
   */
  open(requestId: string, signal: AbortSignal | undefined, onCancel: (wireId: string) => void): { wireId: string; handle: RunHandle } {
    const wireId = String(++this.seq);
    const { handle, controller } = RunHandle.pushable(
      () => {
        const entry = this.entries.get(wireId);
        if (entry === undefined) return;
        entry.cancelled = true;
        onCancel(wireId);
      },
      { signal, requestId },
    );
    this.entries.set(wireId, { wireId, requestId, controller, cancelled: false });
    return { wireId, handle };
  }

  /** Forgets a request the worker never received (its frame could not be sent). */
  discard(wireId: string): void {
    this.entries.delete(wireId);
  }

  delta(frame: DeltaFrame): void {
    const entry = this.known(frame.id, frame.type);
    const last = frame.finishReason !== undefined;
    if (!entry.cancelled) {
      // The worker has no per-request flow control: chunks of a consumer that reads slowly are
      // buffered in its handle (`push` returning false is not acted on).
      const chunk: TokenChunk = { requestId: entry.requestId, textDelta: frame.text };
      if (frame.usage !== undefined) chunk.usage = frame.usage;
      if (last) chunk.finishReason = frame.finishReason;
      entry.controller.push(chunk);
      if (last) entry.controller.end();
    }
    if (last) this.entries.delete(entry.wireId);
  }

  error(frame: ErrorFrame & { id: string }): void {
    const entry = this.known(frame.id, frame.type);
    if (!entry.cancelled) {
      entry.controller.fail(InferenceError.fromJSON({ ...frame.error, provider: PROVIDER, requestId: entry.requestId }));
    }
    this.entries.delete(entry.wireId);
  }

  aborted(frame: AbortedFrame): void {
    const entry = this.known(frame.id, frame.type);
    if (!entry.cancelled) {
      entry.controller.fail(
        new InferenceError('cancelled', 'the python worker aborted the request', {
          details: { reason: 'aborted by the worker' },
          provider: PROVIDER,
          requestId: entry.requestId,
        }),
      );
    }
    this.entries.delete(entry.wireId);
  }

  /** Fails every request (the worker is gone) with the error `errorFor` builds for it. */
  failAll(errorFor: (requestId: string) => InferenceError): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) entry.controller.fail(errorFor(entry.requestId));
  }

  private known(wireId: string, type: string): Entry {
    const entry = this.entries.get(wireId);
    if (entry === undefined) throw new FrameError(`${type} frame for request id ${JSON.stringify(wireId)}, which is not running`);
    return entry;
  }
}
