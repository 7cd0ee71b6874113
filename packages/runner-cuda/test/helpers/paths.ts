import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const SCRIPTS_DIR = join(PACKAGE_DIR, 'scripts');
/** The byte-level BPE trainer the test checkpoints' tokenizers come from (shared with models/inferkit-tiny). */
export const BPE_TRAINER = join(PACKAGE_DIR, '..', '..', 'models', 'inferkit-tiny', 'scripts', 'bpe.py');
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

/**
 * Tiny GGUF models in every weight type the engine reads, written by the global setup
 * (scripts/gen_gguf_models.py): one random-weight checkpoint per architecture (dimensions are
 * multiples of 256, the k-quant super-block), exported once per type.
 */
export const GGUF_MODELS_DIR = join(TEST_MODELS_DIR, 'gguf');
export const GGUF_MODELS = ['llama', 'qwen2', 'qwen3'] as const;
export type GgufModel = (typeof GGUF_MODELS)[number];
export const GGUF_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m'] as const;
export type GgufType = (typeof GGUF_TYPES)[number];

export function ggufModelPath(model: GgufModel, type: GgufType): string {
  return join(GGUF_MODELS_DIR, `${model}-${type}.gguf`);
}

/** The F32 Hugging Face checkpoint each GGUF test model was exported from. */
export function ggufSourceDir(model: GgufModel): string {
  return join(GGUF_MODELS_DIR, model);
}

/** GGUF files built around their vocabularies (scripts/gen_tokenizer_ggufs.py), by name. */
export const TOKENIZER_GGUFS = ['bpe-gpt2', 'bpe-llama3', 'bpe-qwen2', 'bpe-default', 'bpe-starcoder', 'bpe-falcon', 'spm', 'spm-no-prefix'] as const;
export type TokenizerGguf = (typeof TOKENIZER_GGUFS)[number];

export function tokenizerGguf(name: TokenizerGguf): string {
  return join(TEST_MODELS_DIR, 'gguf-tokenizers', `${name}.gguf`);
}

/** The committed demo model (models/inferkit-tiny) and its F32 GGUF export, written by the global setup. */
export const INFERKIT_TINY_DIR = join(PACKAGE_DIR, '..', '..', 'models', 'inferkit-tiny');
export const INFERKIT_TINY_GGUF = join(TEST_MODELS_DIR, 'inferkit-tiny.gguf');

/** Whether the native addon has been built (`pnpm run build` does it). */
export const ADDON_BUILT = existsSync(ADDON_PATH);
