import { InferenceError, type InferenceErrorKind, type SuperviseEvent } from '@inferkit/inference-core';

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
  private rebuildsStarted: number;
  private readonly listeners: Set<(now: ModelHealthSnapshot, before: ModelHealthSnapshot) => void>;

  constructor() {
    this.current = { state: 'ready' };
    this.rebuildsStarted = 0;
    this.listeners = new Set();
    this.observe = this.observe.bind(this);
  }

  /** The current state. */
  snapshot(): ModelHealthSnapshot {
    return this.current;
  }

  /**
   * Rebuilds started so far. Read it when a request starts and hand it to `recordFailure`: a
   * failure reported after a rebuild began is stale, the rebuild's own outcome decides.
   */
  rebuilds(): number {
    return this.rebuildsStarted;
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

  /**
   * A request that started when `rebuilds()` was `rebuildsAtStart` failed with `error`:
   * engine-down kinds mark the model down, unless a rebuild has started since (its outcome
   * decides) or the model is already down (its first reason stays, e.g. `rebuilds_gave_up`).
   */
  recordFailure(error: unknown, rebuildsAtStart: number = this.rebuildsStarted): void {
    if (!InferenceError.isInstance(error) || !ENGINE_DOWN.has(error.kind)) return;
    if (rebuildsAtStart !== this.rebuildsStarted) return;
    if (this.current.state !== 'ready') return;
    this.set({ state: 'down', reason: error.kind });
  }

  /**
   * A `supervise` event (pass this method as `onEvent`; it is bound). `rebuild_started` →
   * `rebuilding`; `rebuild_finished` → `ready`, or `down` when the rebuild failed;
   * `rebuild_gave_up` → `down` until a rebuild or a request succeeds. Other events are ignored.
   */
  observe(event: SuperviseEvent): void {
    if (event.type === 'rebuild_started') this.rebuildsStarted++;
    if (this.current.state === 'loading' || this.current.state === 'failed') return;
    if (event.type === 'rebuild_started') {
      this.set(this.current.reason === undefined ? { state: 'rebuilding' } : { state: 'rebuilding', reason: this.current.reason });
    } else if (event.type === 'rebuild_finished') {
      this.set(event.error === undefined ? { state: 'ready' } : { state: 'down', reason: event.error.kind });
    } else if (event.type === 'rebuild_gave_up') {
      this.set({ state: 'down', reason: 'rebuilds_gave_up' });
    }
  }

  protected set(next: ModelHealthSnapshot): void {
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
