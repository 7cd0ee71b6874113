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

/**
 * Copies of two tiny models with every EOS id removed (config.json, generation_config.json,
 * tokenizer_config.json), written by the global setup. Random weights emit EOS at arbitrary
 * points; tests of streaming mechanics need generations that always run to maxTokens.
 */
export const NO_EOS_MODELS = ['llama-gqa', 'qwen2-bias'] as const;
export type NoEosModel = (typeof NO_EOS_MODELS)[number];

export function noEosModelDir(name: NoEosModel): string {
  return join(TEST_MODELS_DIR, 'no-eos', name);
}

export function ggufPath(name: TinyModel): string {
  return join(TEST_MODELS_DIR, `${name}.gguf`);
}

/** Whether the native addon has been built (`pnpm run build` does it). */
export const ADDON_BUILT = existsSync(ADDON_PATH);
