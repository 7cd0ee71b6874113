import { NoSuchModelError } from '@ai-sdk/provider';
import { InferkitLanguageModel } from '../inferkit-language-model.js';
import type { InferkitProviderSettings } from '../inferkit-provider-settings.js';
import { resolveModels } from '../resolve-models.js';
import { InferkitLanguageModelV2, type LanguageModelV2Like } from './inferkit-language-model-v2.js';

/**
 * The provider for `ai` 5 (specification v2): call it with a model id, or use `languageModel`.
 * Shaped like `ProviderV2` without naming it, for the reason given at `LanguageModelV2Like`.
 */
export interface InferkitProviderV2 {
  /** The language model served under `modelId`; throws `NoSuchModelError` for an unknown id. */
  (modelId: string): LanguageModelV2Like;
  /** Same as calling the provider. */
  languageModel(modelId: string): LanguageModelV2Like;
  /** Always throws `NoSuchModelError`: inferkit runners serve language models only. */
  textEmbeddingModel(modelId: string): never;
  /** Always throws `NoSuchModelError`: inferkit runners serve language models only. */
  imageModel(modelId: string): never;
}

/**
 * `createInferkit` for `ai` 5: the same settings, models and mapping, in the language model
 * specification v2 (`import { createInferkit } from '@inferkit/ai-sdk-provider/v2'`).
 */
export function createInferkit(settings: InferkitProviderSettings): InferkitProviderV2 {
  const configOf = resolveModels(settings);
  const languageModel = (modelId: string): LanguageModelV2Like => new InferkitLanguageModelV2(new InferkitLanguageModel(modelId, configOf(modelId)));
  const provider = ((modelId: string) => languageModel(modelId)) as InferkitProviderV2;
  provider.languageModel = languageModel;
  provider.textEmbeddingModel = (modelId: string) => {
    throw new NoSuchModelError({ modelId, modelType: 'embeddingModel' });
  };
  provider.imageModel = (modelId: string) => {
    throw new NoSuchModelError({ modelId, modelType: 'imageModel' });
  };
  return provider;
}
