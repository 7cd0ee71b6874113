import type { Clock, Message, RuntimeKind } from '@inferkit/inference-core';
import type { PythonLogLine } from './log-tail.js';
import { restartPolicy, type AutoRestartOptions, type RestartPolicy } from './restart-policy.js';

/** Options of `new PythonRunner(...)`. */
export interface PythonRunnerOptions {
  /**
   * The engine: `'vllm'` (vLLM's in-process AsyncLLM), `'transformers'` (AutoModelForCausalLM),
   * or `'module:factory'` — a Python callable `factory(model=, revision=, engine_args=)` that
   * returns (or resolves to) an object with `generate`, `abort`, `info` and `close`
   * (see `python/inferkit_bridge/engine.py`).
   */
  engine: string;
  /**
   * Passed to the engine untouched. vLLM: `AsyncEngineArgs` fields in their Python names
   * (`tensor_parallel_size`, `pipeline_parallel_size`, `distributed_executor_backend: 'ray'`,
   * `max_model_len`, `gpu_memory_utilization`, ...). transformers: `device`, `dtype`,
   * `max_concurrent`, and `from_pretrained` keyword arguments.
   */
  engineArgs?: Record<string, unknown>;
  /** Model id or path used until `loadWeights` names another one. */
  model?: string;
  /** For custom engines: the `<name>` in `runtimeKind()` `python:<name>` (default: the module name). */
  name?: string;
  /** Python interpreter. Default `'python3'`. */
  python?: string;
  /** Interpreter arguments placed before `-m inferkit_bridge` (e.g. `['-X', 'faulthandler']`). */
  pythonArgs?: string[];
  /** Extra environment for the worker (merged over `process.env`). */
  env?: Record<string, string>;
  /** Working directory of the worker. */
  cwd?: string;
  /** Extra `PYTHONPATH` entries, e.g. where a custom engine's module lives. */
  pythonPath?: string[];
  /** Device reported by `transportKind()` when the engine does not say (default `cuda` for vLLM, else `cpu`). */
  device?: string;
  /** How long the worker may take to import and load the engine, ms. Default 600 000 (vLLM loads are slow). */
  startupTimeoutMs?: number;
  /** After `close()` asks for a graceful stop, how long before the process group is killed, ms. Default 10 000. */
  shutdownGraceMs?: number;
  /** Requests running at once in the worker. Default: unlimited (the engine batches). */
  maxInFlight?: number;
  /** When `maxInFlight` is reached: wait for a slot (`'queue'`, default) or fail at once with `backpressure`. */
  onBackpressure?: 'queue' | 'reject';
  /** With `'queue'`: waiting requests beyond this fail with `backpressure` (`queue_full`). Default: unlimited. */
  maxQueued?: number;
  /** Restart a crashed worker by itself, with backoff. Default: off (call `rebuildSession`). */
  autoRestart?: boolean | AutoRestartOptions;
  /** Receives every line the worker prints on stdout/stderr. */
  onLog?: (line: PythonLogLine) => void;
  /**
   * Called whenever a worker process ends: crashes (`expected: false`) and shutdowns by `close`,
   * `rebuildSession` or `loadWeights` (`expected: true`). For alerting and metrics.
   */
  onWorkerExit?: (exit: PythonWorkerExit) => void;
  /** Log lines kept for error reports (`runtime_crashed` details). Default 50. */
  logTailLines?: number;
  /**
   * Renders messages to a raw prompt in Node, for models without a chat template; the worker then
   * receives `prompt` instead of `messages`.
   */
  promptTemplate?: (messages: Message[]) => string;
  /**
   * Time source for the start-up timeout, shutdown grace, restart backoff, ping timeouts and the
   * short wait for a dead worker's last output (tests pass a `FakeClock`; advance it for those).
   */
  clock?: Clock;
}

/** How a worker process ended (see `onWorkerExit`). */
export interface PythonWorkerExit {
  pid: number | undefined;
  code: number | null;
  signal: string | null;
  /** Human-readable: exit code meaning, signal, spawn failure or protocol violation. */
  reason: string;
  /** True for shutdowns the runner asked for. */
  expected: boolean;
}

export interface ResolvedOptions {
  engine: string;
  engineArgs: Record<string, unknown>;
  model: string | null;
  runtimeKind: RuntimeKind;
  python: string;
  pythonArgs: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  pythonPath: string[];
  device: string | undefined;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  maxInFlight: number;
  onBackpressure: 'queue' | 'reject';
  maxQueued: number;
  restart: RestartPolicy | null;
  onLog: ((line: PythonLogLine) => void) | undefined;
  onWorkerExit: ((exit: PythonWorkerExit) => void) | undefined;
  logTailLines: number;
  promptTemplate: ((messages: Message[]) => string) | undefined;
}

const ENGINE_SPEC = /^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/;

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (integer && !Number.isInteger(value) && value !== Infinity)) {
    throw new TypeError(`PythonRunner: ${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** Checks options once, at construction, with messages that name the option. */
export function resolveOptions(options: PythonRunnerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('PythonRunner: options are required');
  const { engine } = options;
  if (typeof engine !== 'string' || !(engine === 'vllm' || engine === 'transformers' || ENGINE_SPEC.test(engine))) {
    throw new TypeError(`PythonRunner: engine must be 'vllm', 'transformers' or 'module:factory' (got ${JSON.stringify(engine)})`);
  }
  if (options.engineArgs !== undefined && (typeof options.engineArgs !== 'object' || options.engineArgs === null || Array.isArray(options.engineArgs))) {
    throw new TypeError('PythonRunner: engineArgs must be an object');
  }
  if (options.engineArgs !== undefined) {
    try {
      JSON.stringify(options.engineArgs); // they travel in the init frame
    } catch (err) {
      throw new TypeError(`PythonRunner: engineArgs must be JSON-serialisable (${(err as Error).message})`);
    }
  }
  if (options.name !== undefined && !/^[\w.-]+$/.test(options.name)) {
    throw new TypeError('PythonRunner: name may contain letters, digits, _ . - only');
  }
  if (options.onBackpressure !== undefined && options.onBackpressure !== 'queue' && options.onBackpressure !== 'reject') {
    throw new TypeError("PythonRunner: onBackpressure must be 'queue' or 'reject'");
  }
  let runtimeKind: RuntimeKind;
  if (engine === 'vllm') runtimeKind = 'vllm';
  else if (engine === 'transformers') runtimeKind = 'python:transformers';
  else runtimeKind = `python:${options.name ?? engine.slice(0, engine.indexOf(':'))}`;
  return {
    engine,
    engineArgs: { ...(options.engineArgs ?? {}) },
    model: options.model ?? null,
    runtimeKind,
    python: options.python ?? 'python3',
    pythonArgs: [...(options.pythonArgs ?? [])],
    env: { ...(options.env ?? {}) },
    cwd: options.cwd,
    pythonPath: [...(options.pythonPath ?? [])],
    device: options.device,
    startupTimeoutMs: positive('startupTimeoutMs', options.startupTimeoutMs, 600_000),
    shutdownGraceMs: positive('shutdownGraceMs', options.shutdownGraceMs, 10_000),
    maxInFlight: positive('maxInFlight', options.maxInFlight, Infinity, true),
    onBackpressure: options.onBackpressure ?? 'queue',
    maxQueued: options.maxQueued === 0 ? 0 : positive('maxQueued', options.maxQueued, Infinity, true),
    restart: restartPolicy(options.autoRestart),
    onLog: options.onLog,
    onWorkerExit: options.onWorkerExit,
    logTailLines: positive('logTailLines', options.logTailLines, 50, true),
    promptTemplate: options.promptTemplate,
  };
}
