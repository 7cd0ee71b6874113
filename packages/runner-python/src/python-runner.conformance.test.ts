/**
 * The core conformance cases, against a real python3 worker running the stdlib test engine. The
 * worker is started before each case (loadWeights), so capabilities() is the engine's own
 * declaration (continuation); lazy start-up is covered by python-runner.test.ts.
 */
import { runnerConformanceCases } from '@inferkit/inference-core/testing';
import { describe, test } from 'vitest';
import { PythonRunner } from './python-runner.js';
import { scriptedOptions } from './__testing__/scripted-engine.js';

describe('PythonRunner conformance (python3 + scripted engine)', () => {
  const cases = runnerConformanceCases({
    create: async () => {
      const runner = new PythonRunner(scriptedOptions());
      await runner.loadWeights({ kind: 'runtime_managed' });
      return runner;
    },
    capabilities: {
      model: 'scripted',
      batch: (requestId) => ({
        requestId,
        model: 'scripted',
        messages: [{ role: 'user', content: '!paced 40' }],
        sampling: { maxTokens: 16 },
        stream: true,
        estimatedTokens: 20,
      }),
      reportsUsage: true,
      multiChunk: true,
      concurrency: 8,
      rebuildCauses: ['manual', 'cuda_context_poisoned'],
      // Every request fails: the engine cannot be imported.
      createFailing: () => new PythonRunner(scriptedOptions({ engine: 'inferkit_no_such_engine:create' })),
      timeoutMs: 20_000,
    },
  });
  for (const c of cases) test(c.name, c.run);
});
