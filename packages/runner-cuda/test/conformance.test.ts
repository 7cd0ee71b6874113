import { describe, test } from 'vitest';
import { runnerConformanceCases, runnerFactoryConformanceCases } from '@inferkit/inference-core/testing';
import { CudaRunner, runnerFactory } from '../src/cuda-runner.js';
import type { CudaRunnerEngineProcess } from '../src/cuda-runner-options.js';
import { noEosModelDir } from './helpers/paths.js';
import { TEST_THREADS, userBatch } from './helpers/runner.js';

async function create(engineProcess: CudaRunnerEngineProcess): Promise<CudaRunner> {
  const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess });
  // No EOS ids: the streams always run to maxTokens, as the mid-stream cases need.
  await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
  return runner;
}

// The CPU backend in this process, and in a child process (how a CUDA engine runs by default).
for (const engineProcess of ['in-process', 'child'] as const) {
  describe(`runner conformance (inference-core kit) on the CPU backend, engine ${engineProcess}`, () => {
    const cases = runnerConformanceCases({
      create: () => create(engineProcess),
      capabilities: {
        batch: (requestId) => ({ ...userBatch('Count from one to twenty.', { maxTokens: 48, temperature: 0 }), requestId }),
        reportsUsage: true,
        multiChunk: true,
        concurrency: 6,
        rebuildCauses: ['manual', 'cuda_context_poisoned'],
        // A poisoned engine is this runner's failing backend: every request fails until a rebuild.
        createFailing: async () => {
          const runner = await create(engineProcess);
          runner._engine!.injectFault('sticky_failure');
          return runner;
        },
        timeoutMs: 30_000,
      },
    });
    for (const c of cases) test(c.name, c.run);
  });
}

describe('runnerFactory conformance (inference-core kit)', () => {
  const cases = runnerFactoryConformanceCases({
    factory: runnerFactory,
    options: { device: 'cpu', threads: TEST_THREADS, engineProcess: 'child' },
    invalid: [
      { options: { device: 'gpu' }, param: 'device' },
      { options: { device: 'cuda:1', engineProcess: 'in-process' }, param: 'engineProcess' },
      { options: { threads: 0 }, param: 'threads' },
      { options: { threads: 100_000 }, param: 'threads' },
      { options: { maxBatch: 2.5 }, param: 'maxBatch' },
      { options: { maxSeqLen: -1 }, param: 'maxSeqLen' },
      { options: { convertAtLoad: 1 }, param: 'convertAtLoad' },
      { options: { binaryPath: 7 }, param: 'binaryPath' },
      { options: { engineProcess: 'worker' }, param: 'engineProcess' },
    ],
  });
  for (const c of cases) test(c.name, c.run);
});
