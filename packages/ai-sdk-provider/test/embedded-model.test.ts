// The provider over the embedded model: models/inferkit-tiny through CudaRunner on the CPU
// backend, driven by the real `ai` package. One short greedy generation (the slow part is the
// model load), whose answer the model was trained to give.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaRunner } from '@inferkit/runner-cuda';
import { streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInferkit } from '../src/index.js';

const MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models', 'inferkit-tiny');

describe('the embedded model through streamText', () => {
  let runner: CudaRunner;
  beforeAll(async () => {
    // One engine thread: the suite shares two cores with the other test files.
    runner = new CudaRunner({ device: 'cpu', threads: 1 });
    await runner.loadWeights({ kind: 'local_path', path: MODEL_DIR });
  });
  afterAll(() => runner?.close());

  test('streams the trained answer greedily, with usage from the engine and finish reason stop', async () => {
    const inferkit = createInferkit({ models: { tiny: runner } });
    const result = streamText({
      model: inferkit('tiny'),
      system: 'You are a helpful assistant.',
      prompt: 'What color is the sky?',
      temperature: 0,
      maxOutputTokens: 32,
    });
    const deltas: string[] = [];
    for await (const d of result.textStream) deltas.push(d);
    expect(deltas.join('')).toBe('The sky is blue on a sunny day.');
    expect(deltas.length).toBeGreaterThan(1);
    expect(await result.finishReason).toBe('stop');
    const usage = await result.usage;
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.outputTokens).toBeGreaterThanOrEqual(deltas.length);
    expect(usage.totalTokens).toBe(usage.inputTokens! + usage.outputTokens!);
    expect(await result.warnings).toEqual([]);
  });
});
