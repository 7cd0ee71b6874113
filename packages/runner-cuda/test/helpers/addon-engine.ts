import { createRequire } from 'node:module';
import type { AddonEngine, AddonEngineInfo, AddonLoadOptions, AddonModule } from '../../src/binding/addon-types.js';
import { ADDON_PATH } from './paths.js';
import { TEST_THREADS } from './runner.js';

let binding: AddonModule | undefined;

/** The built addon, loaded once per test file. */
export function addon(): AddonModule {
  binding ??= createRequire(import.meta.url)(ADDON_PATH) as AddonModule;
  return binding;
}

/**
 * A raw engine with `modelDir` (a checkpoint directory or a .gguf file) loaded on the CPU:
 * tests that compare weight formats drive the engine directly, below tokenizers and templates.
 */
export async function loadEngine(modelDir: string, options: Partial<AddonLoadOptions> = {}): Promise<{ engine: AddonEngine; info: AddonEngineInfo }> {
  const engine = new (addon().Engine)();
  const info = await engine.load({ modelDir, device: 'cpu', threads: TEST_THREADS, maxBatch: 2, maxSeqLen: 256, ...options });
  return { engine, info };
}

/** Index of the largest value in each row of a [rows, cols] matrix. */
export function argmaxRows(m: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * cols < m.length; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (m[r * cols + c]! > m[r * cols + best]!) best = c;
    out.push(best);
  }
  return out;
}
