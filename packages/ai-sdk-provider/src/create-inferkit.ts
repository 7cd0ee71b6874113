import { NoSuchModelError, type EmbeddingModelV3, type ImageModelV3, type LanguageModelV3, type ProviderV3 } from '@ai-sdk/provider';
import { InferkitLanguageModel } from './inferkit-language-model.js';
import type { InferkitProviderSettings } from './inferkit-provider-settings.js';
import { resolveModels } from './resolve-models.js';

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
  const configOf = resolveModels(settings);
  const languageModel = (modelId: string): LanguageModelV3 => new InferkitLanguageModel(modelId, configOf(modelId));
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
