import { InferenceError, RunnerOptions, type Clock, type Message, type RuntimeKind } from '@inferkit/inference-core';
import type { PythonLogLine } from './log-tail.js';

/** Options of `new PythonRunner(...)` and `runnerFactory.create(...)`. */
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
  /**
   * The `device` `transportKind()` reports — a label for routing and metrics only: where the
   * engine computes is set by `engineArgs` (vLLM's parallelism, transformers' `device`).
   * Default: what the engine reports once started, else `engineArgs.device`, else `cuda` for
   * vLLM and `cpu` for the others.
   */
  deviceLabel?: string;
  /** How long the worker may take to import and load the engine, ms. Default 600 000 (vLLM loads are slow). */
  startupTimeoutMs?: number;
  /** After `close()` asks for a graceful stop, how long before the worker is killed, ms. Default 10 000. */
  shutdownGraceMs?: number;
  /**
   * How often the liveness watchdog pings a ready worker, ms. Default 5 000; `0` turns the
   * watchdog off (e.g. while a debugger holds the engine).
   */
  livenessIntervalMs?: number;
  /**
   * How long a ready worker may go without answering liveness pings, keep its event loop
   * blocked, or hold a partial frame before it is killed and its requests fail with
   * `runtime_crashed`, ms. Default 30 000; at least twice `livenessIntervalMs`.
   */
  livenessTimeoutMs?: number;
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
   * receives `prompt` instead of `messages` (so `continuation` and `images` are not offered).
   */
  promptTemplate?: (messages: Message[]) => string;
  /**
   * Time source for the start-up timeout, shutdown grace, liveness watchdog, ping timeouts and
   * the short wait for a dead worker's last output (tests pass a `FakeClock`).
   */
  clock?: Clock;
}

/** How a worker process ended (see `onWorkerExit`). */
export interface PythonWorkerExit {
  pid: number | undefined;
  code: number | null;
  signal: string | null;
  /** Human-readable: exit code meaning, signal, spawn failure, protocol violation or watchdog. */
  reason: string;
  /** True for shutdowns the runner asked for. */
  expected: boolean;
}

/** @internal The options once checked, with defaults applied. */
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
  deviceLabel: string | undefined;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  liveness: { intervalMs: number; timeoutMs: number } | null;
  onLog: ((line: PythonLogLine) => void) | undefined;
  onWorkerExit: ((exit: PythonWorkerExit) => void) | undefined;
  logTailLines: number;
  promptTemplate: ((messages: Message[]) => string) | undefined;
  clock: Clock | undefined;
}

const OPTION_KEYS = [
  'engine', 'engineArgs', 'model', 'name', 'python', 'pythonArgs', 'env', 'cwd', 'pythonPath', 'deviceLabel',
  'startupTimeoutMs', 'shutdownGraceMs', 'livenessIntervalMs', 'livenessTimeoutMs', 'onLog', 'onWorkerExit',
  'logTailLines', 'promptTemplate', 'clock',
] as const;

// Options earlier versions had, with where their job went (README, "Migrating").
const REMOVED: Readonly<Record<string, string>> = {
  maxInFlight: 'concurrency is a core policy: supervise(runner, { serving: { maxConcurrent } })',
  onBackpressure: 'concurrency is a core policy: supervise(runner, { serving: { onCapacityExhausted } })',
  maxQueued: 'concurrency is a core policy: supervise(runner, { serving: { maxQueueLength } })',
  autoRestart: "recovery is a core policy: supervise(runner, { rebuild: { maxRebuilds, windowMs } }) calls rebuildSession on runtime_crashed",
  device: "it was only a label; it is now 'deviceLabel' (where the engine computes is set by engineArgs)",
};

const ENGINE_SPEC = /^(vllm|transformers|[A-Za-z_][\w.]*:[A-Za-z_][\w.]*)$/;
const WHERE = 'PythonRunner';

/**
 * Checks options the one way `runnerFactory.create` and `new PythonRunner` both do: anything
 * wrong, unknown keys included, is `InferenceError('bad_request')` naming the option.
 */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
    for (const key of Object.keys(options)) {
      const moved = REMOVED[key];
      if (moved !== undefined) {
        throw new InferenceError('bad_request', `${WHERE}: option '${key}' was removed: ${moved}`, { details: { param: key } });
      }
    }
  }
  if (options === undefined) throw new InferenceError('bad_request', `${WHERE}: options are required (at least engine)`, { details: { param: 'engine' } });
  const o = new RunnerOptions(options, WHERE, OPTION_KEYS);
  const engine = o.string('engine', { pattern: ENGINE_SPEC, describe: "'vllm', 'transformers' or 'module:factory'" });
  if (engine === undefined) throw o.error('engine', "is required: 'vllm', 'transformers' or 'module:factory'");
  const engineArgs = o.object('engineArgs') ?? {};
  try {
    JSON.stringify(engineArgs); // they travel in the init frame
  } catch (err) {
    throw o.error('engineArgs', `must be JSON-serialisable (${(err as Error).message})`);
  }
  const name = o.string('name', { pattern: /^[\w.-]+$/, describe: 'letters, digits, _ . - only' });
  const env = o.object('env') ?? {};
  for (const [key, value] of Object.entries(env)) {
    if (typeof value !== 'string') throw o.error('env', `must map names to strings (${JSON.stringify(key)} is ${typeof value})`);
  }
  const clock = o.object('clock') as Clock | undefined;
  if (clock !== undefined && !(typeof clock.now === 'function' && typeof clock.setTimeout === 'function' && typeof clock.clearTimeout === 'function')) {
    throw o.error('clock', 'must have now(), setTimeout() and clearTimeout()');
  }
  const intervalMs = o.number('livenessIntervalMs', { min: 0 }) ?? 5_000;
  const timeoutMs = o.number('livenessTimeoutMs', { min: 1 }) ?? 30_000;
  if (intervalMs > 0 && timeoutMs < 2 * intervalMs) {
    throw o.error('livenessTimeoutMs', `must be at least twice livenessIntervalMs (${intervalMs} ms)`);
  }
  let runtimeKind: RuntimeKind;
  if (engine === 'vllm') runtimeKind = 'vllm';
  else if (engine === 'transformers') runtimeKind = 'python:transformers';
  else runtimeKind = `python:${name ?? engine.slice(0, engine.indexOf(':'))}`;
  return {
    engine,
    engineArgs: { ...engineArgs },
    model: o.string('model', { nonEmpty: true }) ?? null,
    runtimeKind,
    python: o.string('python', { nonEmpty: true }) ?? 'python3',
    pythonArgs: [...(o.stringArray('pythonArgs') ?? [])],
    env: { ...(env as Record<string, string>) },
    cwd: o.string('cwd', { nonEmpty: true }),
    pythonPath: [...(o.stringArray('pythonPath') ?? [])],
    deviceLabel: o.string('deviceLabel', { nonEmpty: true }),
    startupTimeoutMs: o.number('startupTimeoutMs', { min: 1 }) ?? 600_000,
    shutdownGraceMs: o.number('shutdownGraceMs', { min: 0 }) ?? 10_000,
    liveness: intervalMs === 0 ? null : { intervalMs, timeoutMs },
    onLog: o.fn('onLog'),
    onWorkerExit: o.fn('onWorkerExit'),
    logTailLines: o.integer('logTailLines', { min: 1, max: 10_000 }) ?? 50,
    promptTemplate: o.fn('promptTemplate'),
    clock,
  };
}
