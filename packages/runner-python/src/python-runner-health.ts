import type { InferenceError } from '@inferkit/inference-core';

/**
 * Where the runner's worker stands:
 * - `idle`: no worker (not started yet, or stopped by `loadWeights` / `rebuildSession`); the next
 *   request starts one.
 * - `starting`: a worker is importing and loading its engine.
 * - `ready`: serving.
 * - `crashed`: the worker died or never became ready; requests fail fast with `crash.error` until
 *   `rebuildSession()` (e.g. from `supervise(runner, { rebuild })`) or `loadWeights()` starts a new one.
 * - `closed`: `close()` was called; final.
 */
export type PythonWorkerState = 'idle' | 'starting' | 'ready' | 'crashed' | 'closed';

/**
 * How the last worker failed: `startup` (no ready frame: spawn failure, engine start error,
 * start-up timeout), `exit` (it exited by itself), `signal` (killed by a signal not sent by the
 * runner: OOM killer, `kill -9`), `engine_dead` (the engine reported itself dead, e.g. vLLM's
 * EngineDeadError), `protocol` (it sent bytes that are not valid frames), `unresponsive` (the
 * liveness watchdog: no answers, a blocked event loop or a stalled partial frame), `internal`
 * (handling its output failed in the host).
 */
export type PythonCrashKind = 'startup' | 'exit' | 'signal' | 'engine_dead' | 'protocol' | 'unresponsive' | 'internal';

/** The last failure of a worker. */
export interface PythonWorkerCrash {
  kind: PythonCrashKind;
  /** What requests failed with (`runtime_crashed` for crashes; the engine's own error at start-up). */
  error: InferenceError;
  /** When it happened, on the runner's clock (ms). */
  atMs: number;
}

/** `PythonRunner.health()`: a synchronous view for health endpoints and supervisors. */
export interface PythonRunnerHealth {
  state: PythonWorkerState;
  /** `starting` to replace an earlier worker (after a crash, `rebuildSession` or a model change). */
  restarting: boolean;
  /** The last failure; kept while a replacement starts, cleared once one is ready. */
  crash?: PythonWorkerCrash;
  /** Worker crashes since the runner was created (start-up failures included). */
  crashes: number;
  /** The process the runner started (its process group id too). */
  workerPid?: number;
  /** The process serving the engine (a child of `workerPid` under the reaper), once ready. */
  enginePid?: number;
  /** Requests running in the worker (or being aborted there). */
  inFlight: number;
  /** Milliseconds since the worker last answered a liveness ping (ready workers with the watchdog on). */
  sinceAliveMs?: number;
}
