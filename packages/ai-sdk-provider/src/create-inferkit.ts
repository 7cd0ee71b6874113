import { NoSuchModelError, type EmbeddingModelV3, type ImageModelV3, type LanguageModelV3, type ProviderV3 } from '@ai-sdk/provider';
import { InferenceError, type ModelRunner } from '@inferkit/inference-core';
import { InferkitLanguageModel, type InferkitLanguageModelConfig } from './inferkit-language-model.js';
import type { InferkitProviderSettings } from './inferkit-provider-settings.js';

/** The AI SDK `provider` of every model, and the key of their `providerMetadata`. */
export const INFERKIT_PROVIDER = 'inferkit';

/** An AI SDK provider over inferkit runners: call it with a model id, or use `languageModel`. */
export interface InferkitProvider extends ProviderV3 {
  /** The language model served under `modelId`; throws `NoSuchModelError` for an unknown id. */
  (modelId: string): LanguageModelV3;
  /** Same as calling the provider. */
  languageModel(modelId: string): LanguageModelV3;
  /** Always throws `NoSuchModelError`: inferkit runners serve language models only. */
  embeddingModel(modelId: string): EmbeddingModelV3;
  /** Always throws `NoSuchModelError`: inferkit runners serve language models only. */
  imageModel(modelId: string): ImageModelV3;
}

const SETTINGS_KEYS = new Set(['models']);
const ENTRY_KEYS = new Set(['runner', 'model']);

/**
 * Turns inferkit runners into AI SDK language models (specification v3, used by `ai@6`):
 *
 * ```ts
 * const inferkit = createInferkit({ models: { local: runner } });
 * const result = streamText({ model: inferkit('local'), prompt: 'Tell me a story.' });
 * ```
 *
 * Settings are checked here: anything malformed or unknown throws `InferenceError('bad_request')`
 * naming the setting.
 */
export function createInferkit(settings: InferkitProviderSettings): InferkitProvider {
  const models = resolveModels(settings);
  const languageModel = (modelId: string): LanguageModelV3 => {
    const config = typeof modelId === 'string' && Object.hasOwn(models, modelId) ? models[modelId] : undefined;
    if (config === undefined) {
      throw new NoSuchModelError({
        modelId: String(modelId),
        modelType: 'languageModel',
        message: `inferkit has no model ${JSON.stringify(String(modelId))}; createInferkit({ models }) lists ${Object.keys(models)
          .map((k) => JSON.stringify(k))
          .join(', ')}`,
      });
    }
    return new InferkitLanguageModel(modelId, config);
  };
  const provider = ((modelId: string) => languageModel(modelId)) as InferkitProvider;
  Object.defineProperty(provider, 'specificationVersion', { value: 'v3', enumerable: true });
  provider.languageModel = languageModel;
  provider.embeddingModel = (modelId: string) => {
    throw new NoSuchModelError({ modelId, modelType: 'embeddingModel' });
  };
  provider.imageModel = (modelId: string) => {
    throw new NoSuchModelError({ modelId, modelType: 'imageModel' });
  };
  return provider;
}

function resolveModels(settings: InferkitProviderSettings): Record<string, InferkitLanguageModelConfig> {
  if (typeof settings !== 'object' || settings === null) throw bad('settings', 'must be an object with `models`');
  for (const key of Object.keys(settings)) if (!SETTINGS_KEYS.has(key)) throw bad(key, 'is not a setting of createInferkit');
  const models = settings.models;
  if (typeof models !== 'object' || models === null || Array.isArray(models)) {
    throw bad('models', 'must be an object mapping model ids to runners');
  }
  const ids = Object.keys(models);
  if (ids.length === 0) throw bad('models', 'must name at least one model');
  const out: Record<string, InferkitLanguageModelConfig> = Object.create(null);
  for (const id of ids) {
    const param = `models.${id}`;
    const value: unknown = models[id];
    if (isRunner(value)) {
      out[id] = { provider: INFERKIT_PROVIDER, runner: value, runnerModel: id };
      continue;
    }
    if (typeof value !== 'object' || value === null) throw bad(param, 'must be a ModelRunner or { runner, model? }');
    for (const key of Object.keys(value)) if (!ENTRY_KEYS.has(key)) throw bad(`${param}.${key}`, 'is not a model setting (runner, model)');
    const entry = value as { runner?: unknown; model?: unknown };
    if (!isRunner(entry.runner)) throw bad(`${param}.runner`, 'must be a ModelRunner');
    if (entry.model !== undefined && (typeof entry.model !== 'string' || entry.model === '')) {
      throw bad(`${param}.model`, 'must be a non-empty string');
    }
    out[id] = { provider: INFERKIT_PROVIDER, runner: entry.runner, runnerModel: entry.model ?? id };
  }
  return out;
}

function isRunner(value: unknown): value is ModelRunner {
  return typeof value === 'object' && value !== null && typeof (value as ModelRunner).execute === 'function';
}

function bad(param: string, why: string): InferenceError {
  return new InferenceError('bad_request', `createInferkit: ${param} ${why}`, { details: { param } });
}
