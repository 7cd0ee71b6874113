import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AddonEngine, AddonEngineInfo } from '../src/binding/addon-types.js';
import { addon, argmaxRows, loadEngine } from './helpers/addon-engine.js';
import { GGUF_MODELS, GGUF_TYPES, ggufModelPath, type GgufType } from './helpers/paths.js';
import { pseudoRandomIds } from './helpers/prompts.js';

// The engine on GGUF files directly (the addon, below tokenizers and templates): what each file
// type loads as, how far 8-bit blocks move the logits from the F32 file's, and the typed errors
// of broken files.

const WEIGHT_DTYPES: Record<GgufType, string> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  q8_0: 'Q8_0',
  q4_0: 'Q4_0',
  q4_k: 'Q4_K',
  q5_k: 'Q5_K',
  q6_k: 'Q6_K',
  q4_k_m: 'Q4_K+Q6_K',
};

describe.each(GGUF_MODELS)('GGUF %s', (arch) => {
  test.each(GGUF_TYPES)('%s loads with its weight types, in place', async (type) => {
    const { engine, info } = await loadEngine(ggufModelPath(arch, type), { maxSeqLen: 64, maxBatch: 1 });
    try {
      expect(info.weightDtype).toBe(WEIGHT_DTYPES[type]);
      expect(info.arch).toBe(arch);
      // Weights are read from the mapped file, never widened: the engine holds the file's tensor
      // bytes plus the KV cache (f32, 2 x layers x positions x kv_dim).
      const kv = 2 * info.numLayers * 64 * info.numKvHeads * info.headDim * 4;
      expect(info.memoryBytes).toBeLessThanOrEqual(statSync(ggufModelPath(arch, type)).size + kv);
    } finally {
      await engine.close();
    }
  });

  describe('Q8_0 logits against the F32 file of the same weights', () => {
    let f32: { engine: AddonEngine; info: AddonEngineInfo };
    let q8: { engine: AddonEngine; info: AddonEngineInfo };
    beforeAll(async () => {
      f32 = await loadEngine(ggufModelPath(arch, 'f32'));
      q8 = await loadEngine(ggufModelPath(arch, 'q8_0'));
    });
    afterAll(async () => {
      await f32?.engine.close();
      await q8?.engine.close();
    });

    // The documented tolerance (README): Q8_0 weights and 8-bit activations keep every logit
    // within 20% of the logits' standard deviation of the F32 model's, and the mean difference
    // within 2.5% of it (measured: max 11-14%, mean 1.2-1.9% on these models).
    test('every logit within 0.2 std of the F32 model, mean within 0.025 std', async () => {
      const tokens = Int32Array.from(pseudoRandomIds(51, 96, f32.info.vocabSize));
      const [a, b] = await Promise.all([f32.engine.logits(tokens), q8.engine.logits(tokens)]);
      let max = 0;
      let sum = 0;
      let sq = 0;
      let mean = 0;
      for (const v of a) mean += v / a.length;
      a.forEach((v, i) => {
        const d = Math.abs(v - (b[i] ?? Number.NaN));
        max = Math.max(max, d);
        sum += d;
        sq += (v - mean) ** 2;
      });
      const spread = Math.sqrt(sq / a.length);
      console.log(`gguf ${arch} q8_0 vs f32: max |dlogit| ${max.toFixed(4)}, mean ${(sum / a.length).toFixed(5)}, logit std ${spread.toFixed(3)}`);
      expect(max).toBeLessThan(0.2 * spread);
      expect(sum / a.length).toBeLessThan(0.025 * spread);
      // Not trivially equal: the weights really are 8-bit.
      expect(max).toBeGreaterThan(1e-4);
      const topA = argmaxRows(a, f32.info.vocabSize);
      const topB = argmaxRows(b, f32.info.vocabSize);
      expect(topA.filter((t, i) => t === topB[i]).length).toBeGreaterThanOrEqual(Math.floor(0.9 * topA.length));
    });
  });
});

describe('broken GGUF files are typed errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'inferkit-gguf-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function loadError(path: string): Promise<{ kind?: string; message: string }> {
    const engine = new (addon().Engine)();
    try {
      await engine.load({ modelDir: path, device: 'cpu', threads: 1 });
    } catch (e) {
      return e as { kind?: string; message: string };
    } finally {
      await engine.close();
    }
    throw new Error(`${path} loaded`);
  }

  test('wrong magic', async () => {
    const p = join(dir, 'magic.gguf');
    const bytes = readFileSync(ggufModelPath('llama', 'q8_0'));
    bytes.write('GGUX', 0, 'latin1');
    writeFileSync(p, bytes);
    const e = await loadError(p);
    expect(e.kind).toBe('bad_request');
    expect(e.message).toContain('wrong magic (not a GGUF file)');
  });

  test('truncated data', async () => {
    const p = join(dir, 'truncated.gguf');
    copyFileSync(ggufModelPath('llama', 'q4_k_m'), p);
    truncateSync(p, statSync(p).size - 1000);
    const e = await loadError(p);
    expect(e.kind).toBe('bad_request');
    expect(e.message).toMatch(/tensor '[a-z_.0-9]+': data .* runs past the end of the data section/);
  });

  test('truncated header', async () => {
    const p = join(dir, 'header.gguf');
    copyFileSync(ggufModelPath('qwen2', 'q8_0'), p);
    truncateSync(p, 4000);
    const e = await loadError(p);
    expect(e.kind).toBe('bad_request');
    expect(e.message).toContain('truncated file?');
  });

  test('absurd tensor count', async () => {
    const p = join(dir, 'count.gguf');
    const bytes = readFileSync(ggufModelPath('llama', 'q8_0'));
    bytes.writeBigUInt64LE(1n << 40n, 8);
    writeFileSync(p, bytes);
    const e = await loadError(p);
    expect(e.kind).toBe('bad_request');
    expect(e.message).toContain('tensor count 1099511627776 is impossible');
  });

  test('a missing file is not_found', async () => {
    const e = await loadError(join(dir, 'nope.gguf'));
    expect(e.kind).toBe('not_found');
  });
});
