import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { addon } from './helpers/addon-engine.js';
import { modelDir } from './helpers/paths.js';
import { engineGreedy, loadedRunner, userBatch } from './helpers/runner.js';

// convertAtLoad: 'q8_0' quantizes a safetensors checkpoint's F32/F16/BF16 matrices to Q8_0 blocks
// once at load (CPU backend), the values llama.cpp's converter would write.
describe("convertAtLoad: 'q8_0'", () => {
  test('a BF16 checkpoint runs on Q8_0 matrices: less memory, close greedy tokens, text out', async () => {
    const plain = await loadedRunner('llama-gqa-bf16');
    const q8 = await loadedRunner('llama-gqa-bf16', { convertAtLoad: 'q8_0' });
    try {
      // Matrices go from 2 bytes a weight to 34 / 32; the KV cache and norms stay.
      expect(q8.modelInfo!.memoryBytes).toBeLessThan(plain.modelInfo!.memoryBytes);
      const prompt = [5, 17, 42, 99, 3];
      const [a, b] = await Promise.all([engineGreedy(plain._engine!, prompt, 24), engineGreedy(q8._engine!, prompt, 24)]);
      // 8-bit weights and activations move the logits by about 1% of their spread: the greedy
      // path may leave the BF16 one after a while, but not at once.
      expect(b.slice(0, 4)).toEqual(a.slice(0, 4));
      const out = await (await q8.execute(userBatch('hello', { maxTokens: 8 }))).collect();
      expect(out.usage?.outputTokens).toBeGreaterThan(0);
    } finally {
      await plain.close();
      await q8.close();
    }
  });

  test('the addon refuses other values with bad_request', async () => {
    const engine = new (addon().Engine)();
    for (const bad of ['Q8_0', 'f16', 1]) {
      let err: unknown;
      try {
        await engine.load({ modelDir: modelDir('llama-gqa'), convertAtLoad: bad as never });
      } catch (e) {
        err = e;
      }
      expect((err as { kind?: string }).kind).toBe('bad_request');
      expect((err as Error).message).toContain("convertAtLoad must be true, false or 'q8_0'");
    }
    await engine.close();
  });

  test('CudaRunner validates it at construction', async () => {
    const { CudaRunner } = await import('../src/cuda-runner.js');
    let err: unknown;
    try {
      new CudaRunner({ convertAtLoad: 'q4' as never });
    } catch (e) {
      err = e;
    }
    expect(InferenceError.isInstance(err) && err.kind).toBe('bad_request');
  });
});
