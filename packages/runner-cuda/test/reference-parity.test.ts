import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CudaRunner } from '../src/cuda-runner.js';
import { modelDir, TINY_MODELS } from './helpers/paths.js';
import { pseudoRandomIds, REFERENCE_PROMPTS, referenceLogitsFile } from './helpers/prompts.js';
import { TEST_THREADS } from './helpers/runner.js';

// Independent check of the engine's math: scripts/reference_forward.py is written from the
// Hugging Face model definitions in numpy (float64) and shares no code with the C++ engine.
// The global setup ran it on these prompts; here the engine computes the same logits.
const TOLERANCE = 1e-4;

describe.each(TINY_MODELS)('logits match the numpy reference: %s', (model) => {
  let runner: CudaRunner;
  beforeAll(async () => {
    runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: modelDir(model) });
  });
  afterAll(() => runner.close());

  test.each(REFERENCE_PROMPTS)('$label', async ({ label, length, seed }) => {
    const vocab = runner.modelInfo!.vocabSize;
    const ids = pseudoRandomIds(seed, length, vocab);
    const ours = await runner._engine!.logits(Int32Array.from(ids));
    const buf = readFileSync(referenceLogitsFile(model, label));
    const ref = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    expect(ours.length).toBe(ids.length * vocab);
    expect(ref.length).toBe(ours.length);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < ours.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - ref[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
    }
    // Guard against a vacuous pass: the logits must carry signal.
    expect(maxAbs).toBeGreaterThan(0.1);
    expect(maxDiff).toBeLessThan(TOLERANCE);
  });
});
