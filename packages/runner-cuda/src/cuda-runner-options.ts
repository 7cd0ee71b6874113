import { InferenceError } from '@inferkit/inference-core';

/** Device choice: `auto` uses CUDA when the binary has it and a device works, else the CPU. */
export type CudaRunnerDevice = 'auto' | 'cuda' | 'cpu';

/**
 * Where the engine runs. `auto` (the default): a CUDA engine in a child process, a CPU engine in
 * this one. In a child process a sticky CUDA error is recoverable (`rebuildSession` replaces the
 * process; current drivers refuse the device to a process that reset it) and a crash in the driver
 * or a kernel fails the requests with `runtime_crashed` instead of killing the host. The cost is
 * one process and an IPC hop per delivery of tokens.
 */
export type CudaRunnerEngineProcess = 'auto' | 'child' | 'in-process';

/** Options of `new CudaRunner(options)`. */
export interface CudaRunnerOptions {
  /** Where to compute. Default `'auto'`. The `INFERKIT_DEVICE` environment variable overrides it. */
  device?: CudaRunnerDevice;
  /** CPU threads for the CPU backend. Default: the number of cores. */
  threads?: number;
  /** Sequences decoded together (KV cache slots); more requests wait. Default 8. */
  maxBatch?: number;
  /** Positions per sequence (prompt + output). Default: min(`max_position_embeddings`, 4096). */
  maxSeqLen?: number;
  /** Convert F16/BF16 weights to F32 once at load (faster CPU decode, twice the memory). Default false. */
  convertAtLoad?: boolean;
  /** Path of the native addon; defaults to the package's own build output. */
  binaryPath?: string;
  /** Host the engine in a child process (see `CudaRunnerEngineProcess`). Default `'auto'`. */
  engineProcess?: CudaRunnerEngineProcess;
}

const DEVICES: readonly string[] = ['auto', 'cuda', 'cpu'];
const ENGINE_PROCESSES: readonly string[] = ['auto', 'child', 'in-process'];

function positiveInt(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InferenceError('bad_request', `CudaRunner option ${name} must be a positive integer, got ${String(value)}`, { details: { param: name } });
  }
  return value;
}

/** Options after validation and the environment override. */
export interface ResolvedCudaRunnerOptions {
  device: CudaRunnerDevice;
  threads: number | undefined;
  maxBatch: number | undefined;
  maxSeqLen: number | undefined;
  convertAtLoad: boolean;
  binaryPath: string | undefined;
  engineProcess: CudaRunnerEngineProcess;
}

/** Validates options at construction time; `INFERKIT_DEVICE` wins over `options.device`. */
export function resolveCudaRunnerOptions(options: CudaRunnerOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedCudaRunnerOptions {
  if (options === null || typeof options !== 'object') {
    throw new InferenceError('bad_request', 'CudaRunner options must be an object');
  }
  const fromEnv = env.INFERKIT_DEVICE;
  const device = fromEnv !== undefined && fromEnv !== '' ? fromEnv.trim().toLowerCase() : (options.device ?? 'auto');
  if (!DEVICES.includes(device)) {
    const origin = fromEnv ? `INFERKIT_DEVICE=${fromEnv}` : `device ${String(options.device)}`;
    throw new InferenceError('bad_request', `${origin} is not one of auto, cuda, cpu`, { details: { param: 'device' } });
  }
  if (options.binaryPath !== undefined && (typeof options.binaryPath !== 'string' || options.binaryPath === '')) {
    throw new InferenceError('bad_request', 'CudaRunner option binaryPath must be a non-empty string', { details: { param: 'binaryPath' } });
  }
  const engineProcess = options.engineProcess ?? 'auto';
  if (!ENGINE_PROCESSES.includes(engineProcess)) {
    throw new InferenceError('bad_request', `CudaRunner option engineProcess must be one of auto, child, in-process, got ${String(engineProcess)}`, {
      details: { param: 'engineProcess' },
    });
  }
  return {
    device: device as CudaRunnerDevice,
    threads: positiveInt('threads', options.threads),
    maxBatch: positiveInt('maxBatch', options.maxBatch),
    maxSeqLen: positiveInt('maxSeqLen', options.maxSeqLen),
    convertAtLoad: options.convertAtLoad === true,
    binaryPath: options.binaryPath,
    engineProcess,
  };
}
