import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const SCRIPTS_DIR = join(PACKAGE_DIR, 'scripts');
/** Tiny checkpoints written by the global setup (scripts/gen_tiny_models.py). */
export const TEST_MODELS_DIR = join(PACKAGE_DIR, 'test-models');
export const ADDON_PATH = join(PACKAGE_DIR, 'native', 'build', 'Release', 'inferkit.node');

/** Every tiny model the generator writes, by directory name. */
export const TINY_MODELS = ['llama-gqa', 'llama-gqa-bf16', 'llama-gqa-f16', 'qwen2-bias', 'qwen3-qknorm', 'llama3-rope', 'mistral-sharded'] as const;
export type TinyModel = (typeof TINY_MODELS)[number];

export function modelDir(name: TinyModel): string {
  return join(TEST_MODELS_DIR, name);
}

export function ggufPath(name: TinyModel): string {
  return join(TEST_MODELS_DIR, `${name}.gguf`);
}

/** Whether the native addon has been built (`pnpm run build` does it). */
export const ADDON_BUILT = existsSync(ADDON_PATH);
