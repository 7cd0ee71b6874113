import { InferenceError, type InferenceErrorKind } from '@inferkit/inference-core';

/**
 * Where a model stands, as `/healthz` reports it:
 * - `loading` — weights are loading; requests get 503 `model_loading`.
 * - `ready` — serving.
 * - `failed` — weights failed to load; requests get 503 `model_unavailable` (restart to retry).
 * - `down` — the engine crashed or its CUDA context was poisoned (`reason` says which), or
 *   automatic rebuilds gave up (`reason: 'rebuilds_gave_up'`). Requests still reach the runner
 *   (a supervised runner rebuilds or fails fast); the first success brings the model back.
 * - `rebuilding` — `supervise` is rebuilding the session.
 */
export type ModelState = 'loading' | 'ready' | 'failed' | 'down' | 'rebuilding';

/** A model's health at one moment. */
export interface ModelHealthSnapshot {
  state: ModelState;
  /** Why it is not ready: an `InferenceError` kind, `'load_failed'` or `'rebuilds_gave_up'`. */
  reason?: string;
}

/** Error kinds that mean the engine itself is gone until its session is rebuilt. */
const ENGINE_DOWN: ReadonlySet<InferenceErrorKind> = new Set(['runtime_crashed', 'cuda_context_poisoned']);

/**
 * Tracks one model's health from what happens to it: weight loading, request outcomes (an
 * engine-down error marks it down, a completed request marks it ready) and `supervise`'s rebuild
 * events. Give `observe` to `supervise` as (part of) its `onEvent` so rebuilds show up:
 *
 * ```ts
 * const health = new ModelHealth();
 * const runner = supervise(raw, { rebuild: { maxRebuilds: 3, windowMs: 600_000 }, onEvent: health.observe });
 * createGateway({ models: { local: { runner, health } } });
 * ```
 */
export class ModelHealth {
  private current: ModelHealthSnapshot;
  private readonly listeners: Set<(now: ModelHealthSnapshot, before: ModelHealthSnapshot) => void>;

  constructor() {
    this.current = { state: 'ready' };
    this.listeners = new Set();
    this.observe = this.observe.bind(this);
  }

  /** The current state. */
  snapshot(): ModelHealthSnapshot {
    return this.current;
  }

  /** Calls `listener` on every change of state or reason; returns the unsubscribe function. */
  subscribe(listener: (now: ModelHealthSnapshot, before: ModelHealthSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Weights started loading. */
  loading(): void {
    this.set({ state: 'loading' });
  }

  /** Weights are in. */
  loaded(): void {
    this.set({ state: 'ready' });
  }

  /** Weights failed to load; the model stays `failed`. */
  loadFailed(): void {
    this.set({ state: 'failed', reason: 'load_failed' });
  }

  /** A request completed: the engine works. */
  recordSuccess(): void {
    const s = this.current.state;
    if (s === 'down' || s === 'rebuilding') this.set({ state: 'ready' });
  }

  /** A request failed with `error`; engine-down kinds mark the model down. */
  recordFailure(error: unknown): void {
    if (!InferenceError.isInstance(error) || !ENGINE_DOWN.has(error.kind)) return;
    const s = this.current.state;
    if (s === 'loading' || s === 'failed') return;
    // While a rebuild runs, its own outcome decides.
    if (s === 'rebuilding') return;
    this.set({ state: 'down', reason: error.kind });
  }

  /**
   * A `supervise` event (pass this method as `onEvent`; it is bound). `rebuild_started` →
   * `rebuilding`; `rebuild_finished` → `ready`, or `down` when the rebuild failed;
   * `rebuild_gave_up` → `down` until a rebuild or a request succeeds. Other events are ignored.
   */
  observe(event: { readonly type: string; readonly error?: unknown }): void {
    if (this.current.state === 'loading' || this.current.state === 'failed') return;
    if (event.type === 'rebuild_started') this.set({ state: 'rebuilding', ...(this.current.reason !== undefined ? { reason: this.current.reason } : {}) });
    else if (event.type === 'rebuild_finished') {
      if (event.error === undefined) this.set({ state: 'ready' });
      else this.set({ state: 'down', reason: InferenceError.isInstance(event.error) ? event.error.kind : 'internal' });
    } else if (event.type === 'rebuild_gave_up') this.set({ state: 'down', reason: 'rebuilds_gave_up' });
  }

  private set(next: ModelHealthSnapshot): void {
    const before = this.current;
    if (before.state === next.state && before.reason === next.reason) return;
    this.current = next;
    for (const l of this.listeners) {
      try {
        l(next, before);
      } catch {
        // A listener's bug must not stop the others or the request that caused the change.
      }
    }
  }
}
