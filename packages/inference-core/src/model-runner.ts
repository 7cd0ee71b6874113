import type { CudaContextHandle } from './cuda-context-handle.js';
import type { ExecuteBatch } from './execute-batch.js';
import type { RateLimitObservation } from './rate-limiter.js';
import type { RateLimits } from './rate-limits.js';
import type { RunnerCapabilities } from './runner-capabilities.js';
import type { RunHandle } from './run-handle.js';
import type { RuntimeKind } from './runtime-kind.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import type { TransportKind } from './transport-kind.js';
import type { WeightSource } from './weight-source.js';

/** Options of `ModelRunner.execute`. */
export interface ExecuteOptions {
  /** Aborting cancels the request; the stream then throws an `InferenceError` of kind `cancelled`. */
  signal?: AbortSignal | undefined;
}

/** Progress report of `ModelRunner.loadWeights`. */
export interface WeightLoadProgress {
  /** What is happening: `'download'`, `'load'` (to memory/device), or a runner-specific phase. */
  phase: string;
  /** Bytes done in this phase. */
  loadedBytes: number;
  /** Total bytes of this phase; `undefined` when unknown. */
  totalBytes: number | undefined;
  /** File being processed, if any. */
  file?: string;
}

/** Options of `ModelRunner.loadWeights`. */
export interface LoadWeightsOptions {
  /** A CUDA context to load into (shared between runners); opaque to the core. */
  context?: CudaContextHandle;
  /** Aborting stops the load with an `InferenceError` of kind `cancelled`. */
  signal?: AbortSignal;
  /** Called as loading progresses. */
  onProgress?: (progress: WeightLoadProgress) => void;
}

/**
 * The contract every backend implements. Keep these names: plugin authors code against them.
 * Optional members have defaults applied by helpers (`isGilPinned`) and by `supervise`.
 */
export interface ModelRunner {
  /**
   * Starts a request. Resolves once the request is accepted; output always arrives as a stream
   * (a single chunk for unary calls). Rejects, or throws from the stream, with `InferenceError`.
   */
  execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle>;
  /** Local runtimes: load weights. Remote runtimes omit it (treated as a no-op). */
  loadWeights?(source: WeightSource, options?: LoadWeightsOptions): Promise<void>;
  /**
   * Recovers the session. Local: reset a poisoned CUDA context / restart a crashed worker and
   * reload weights. Remote: re-read credentials and rebuild the connection pool. A cause meant for
   * another kind of runtime (`cuda_context_poisoned` for a remote runner, `remote_*` for a local
   * one) resolves without doing anything.
   */
  rebuildSession(cause: SessionRebuildCause): Promise<void>;
  /** Engine family. */
  runtimeKind(): RuntimeKind;
  /** Where the work happens. */
  transportKind(): TransportKind;
  /** Whether the runner serializes on a Python GIL (default: true for `vllm` and `python:*`). */
  gilPinned?(): boolean;
  /** Limits of the backend (e.g. provider quotas), applied by `supervise` when the policy has none. */
  rateLimits?(): RateLimits | undefined;
  /**
   * Subscribes to what the backend says about its own limits (e.g. a provider's rate-limit
   * response headers); returns the unsubscribe function. `supervise` subscribes its rate limiter,
   * so whoever wraps the runner gets the feedback.
   */
  observeRateLimits?(listener: (observation: RateLimitObservation) => void): () => void;
  /** Estimated cost of `batch` in USD; `undefined` = unknown price, never a silent 0. */
  estimateCostUsd?(batch: ExecuteBatch): number | undefined;
  /**
   * What the runner can do (tools, response formats, images, continuation, penalties, token ids);
   * absent fields and an absent method mean "cannot". See `RunnerCapabilities`, `capabilitiesOf`.
   */
  capabilities?(): RunnerCapabilities;
  /**
   * Releases resources (connections, workers, device memory). Final: afterwards every `execute`
   * and `loadWeights` rejects with `InferenceError('cancelled')`; a second `close()` resolves.
   */
  close?(): Promise<void>;
}
