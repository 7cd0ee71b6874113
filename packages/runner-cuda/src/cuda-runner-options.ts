import { availableParallelism } from 'node:os';
import { InferenceError, RunnerOptions } from '@inferkit/inference-core';

/**
 * Device choice: `auto` uses CUDA when the binary has it and a device works, else the CPU;
 * `cuda` is the first visible CUDA device; `cuda:N` pins the N-th visible device (the engine's
 * child process sees only that one, through `CUDA_VISIBLE_DEVICES`), so replicas on a multi-GPU
 * host are one runner per device.
 */
export type CudaRunnerDevice = 'auto' | 'cuda' | 'cpu' | `cuda:${number}`;

/**
 * Where the engine runs. `auto` (the default): a CUDA engine in a child process, a CPU engine in
 * this one. In a child process a sticky CUDA error is recoverable (`rebuildSession` replaces the
 * process; current drivers refuse the device to a process that reset it) and a crash in the driver
 * or a kernel fails the requests with `runtime_crashed` instead of killing the host. The cost is
 * one process and an IPC hop per delivery of tokens. A pinned device (`cuda:N`) needs a child
 * process: CUDA fixes the visible devices when it initialises in a process, so `in-process` is
 * refused with it.
 */
export type CudaRunnerEngineProcess = 'auto' | 'child' | 'in-process';

/** Options of `new CudaRunner(options)` and `runnerFactory.create(options)`. */
export interface CudaRunnerOptions {
  /** Where to compute. Default `'auto'`. The `INFERKIT_DEVICE` environment variable overrides it. */
  device?: CudaRunnerDevice;
  /** CPU threads for the CPU backend, at most the cores this process may use. Default: that number. */
  threads?: number;
  /** Sequences decoded together (KV cache slots); more requests wait. Default 8. */
  maxBatch?: number;
  /** Positions per sequence (prompt + output). Default: min(`max_position_embeddings`, 4096). */
  maxSeqLen?: number;
  /**
   * Reuse the KV cache of a prompt prefix across requests: the cache's blocks of 16 positions are
   * kept, keyed by their tokens and everything before them, after their request ends, and shared
   * read-only by later requests that start with the same tokens (evicted least recently used when
   * memory is needed). Outputs are the same either way; usage reports the reused prompt tokens as
   * `cachedTokens`. Default true.
   */
  prefixCache?: boolean;
  /**
   * Convert weights once at load. `true`: F16/BF16 matrices to F32 (faster CPU decode, twice the
   * memory). `'q8_0'`: F32/F16/BF16 matrices to 8-bit Q8_0 blocks as llama.cpp's quantizer writes
   * them (about half of BF16's memory traffic, so faster memory-bound decode; logits move by
   * about 1% of their spread). GGUF block types are never converted. CPU backend only. Default
   * false.
   */
  convertAtLoad?: boolean | 'q8_0';
  /** Path of the native addon. Default: the best usable one of the prebuilt platform packages and a local build (see `CudaRunner.binaryInfo`). */
  binaryPath?: string;
  /** Host the engine in a child process (see `CudaRunnerEngineProcess`). Default `'auto'`. */
  engineProcess?: CudaRunnerEngineProcess;
}

const OPTION_KEYS = ['device', 'threads', 'maxBatch', 'maxSeqLen', 'prefixCache', 'convertAtLoad', 'binaryPath', 'engineProcess'] as const;
const DEVICE_PATTERN = /^(auto|cuda|cpu|cuda:(0|[1-9][0-9]{0,2}))$/;
// Upper bounds that keep the engine's allocations (maxBatch x maxSeqLen KV positions) from
// overflowing a size computation long before memory runs out.
const MAX_BATCH = 4096;
const MAX_SEQ_LEN = 1 << 24;

/** Options after validation and the environment override. */
export interface ResolvedCudaRunnerOptions {
  /** The device kind asked for. */
  device: 'auto' | 'cuda' | 'cpu';
  /** For `cuda:N`: N, the index among the devices this process sees. */
  deviceIndex: number | undefined;
  threads: number | undefined;
  maxBatch: number | undefined;
  maxSeqLen: number | undefined;
  prefixCache: boolean;
  convertAtLoad: boolean | 'q8_0';
  binaryPath: string | undefined;
  engineProcess: CudaRunnerEngineProcess;
}

/**
 * Validates options the way `RunnerOptions` does (unknown keys and wrong values are
 * `InferenceError('bad_request')` naming the option); `INFERKIT_DEVICE` wins over `options.device`.
 * `cores` is the number of cores this process may use (`threads` may not exceed it).
 */
export function resolveCudaRunnerOptions(
  options: unknown,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = availableParallelism(),
): ResolvedCudaRunnerOptions {
  const o = new RunnerOptions(options, 'CudaRunner', OPTION_KEYS);
  const fromEnv = env.INFERKIT_DEVICE?.trim().toLowerCase();
  let device: string;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!DEVICE_PATTERN.test(fromEnv)) {
      throw new InferenceError('bad_request', `INFERKIT_DEVICE=${env.INFERKIT_DEVICE} is not one of auto, cuda, cuda:N, cpu`, { details: { param: 'device' } });
    }
    o.string('device'); // still type-checked, though the environment wins
    device = fromEnv;
  } else {
    device = o.string('device', { pattern: DEVICE_PATTERN, describe: "one of 'auto', 'cuda', 'cuda:N' (N a device index), 'cpu'" }) ?? 'auto';
  }
  const threads = o.integer('threads', { min: 1 });
  if (threads !== undefined && threads > cores) {
    // More threads than cores only makes them wait for each other (1,000 threads took 12.5 s
    // for 8 tokens): refused rather than silently lowered.
    throw o.error('threads', `must be at most ${cores}, the number of cores this process may use (got ${threads})`);
  }
  const engineProcess = o.oneOf('engineProcess', ['auto', 'child', 'in-process'] as const) ?? 'auto';
  const deviceIndex = device.startsWith('cuda:') ? Number(device.slice(5)) : undefined;
  if (deviceIndex !== undefined && engineProcess === 'in-process') {
    throw o.error('engineProcess', `'in-process' cannot pin device ${device}: CUDA fixes the visible devices when it starts in a process; use 'child' or 'auto'`);
  }
  return {
    device: deviceIndex !== undefined ? 'cuda' : (device as 'auto' | 'cuda' | 'cpu'),
    deviceIndex,
    threads,
    maxBatch: o.integer('maxBatch', { min: 1, max: MAX_BATCH }),
    maxSeqLen: o.integer('maxSeqLen', { min: 1, max: MAX_SEQ_LEN }),
    prefixCache: o.boolean('prefixCache') ?? true,
    convertAtLoad: convertAtLoadOption(o, options === undefined ? undefined : (options as Record<string, unknown>).convertAtLoad),
    binaryPath: o.string('binaryPath', { nonEmpty: true }),
    engineProcess,
  };
}

/** The name a resolved device goes by in `transportKind()` (`'cuda:1'` when pinned). */
export function deviceName(kind: 'cpu' | 'cuda', deviceIndex: number | undefined): string {
  return kind === 'cuda' && deviceIndex !== undefined ? `cuda:${deviceIndex}` : kind;
}

/**
 * `CUDA_VISIBLE_DEVICES` for an engine process pinned to the `index`-th device this process sees:
 * this process's own list narrowed to that entry, or the index itself when there is no list.
 * Throws `bad_request` (naming `device`) when the list has no such entry.
 */
export function pinnedVisibleDevices(index: number, env: NodeJS.ProcessEnv = process.env): string {
  const own = env.CUDA_VISIBLE_DEVICES;
  if (own === undefined || own.trim() === '') return String(index);
  const list = own.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const entry = list[index];
  if (entry === undefined) {
    throw new InferenceError('bad_request', `device cuda:${index}: this process sees ${list.length} device(s) (CUDA_VISIBLE_DEVICES=${own})`, {
      details: { param: 'device' },
    });
  }
  return entry;
}

function convertAtLoadOption(o: RunnerOptions, raw: unknown): boolean | 'q8_0' {
  if (raw === undefined) return false;
  if (raw === true || raw === false || raw === 'q8_0') return raw;
  throw o.error('convertAtLoad', "must be true, false or 'q8_0'");
}
