// @inferkit/ai-sdk-provider/v2 — the same provider for `ai` 5 (language model specification v2).
export { createInferkit } from './v2/create-inferkit-v2.js';
export type { InferkitProviderV2 } from './v2/create-inferkit-v2.js';
export type { LanguageModelV2Like } from './v2/inferkit-language-model-v2.js';
export { INFERKIT_PROVIDER } from './resolve-models.js';
export type { InferkitModelEntry, InferkitProviderSettings } from './inferkit-provider-settings.js';
