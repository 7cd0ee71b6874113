// @inferkit/ai-sdk-provider — inferkit runners as AI SDK language models.
export { createInferkit } from './create-inferkit.js';
export { INFERKIT_PROVIDER } from './resolve-models.js';
export type { InferkitProvider } from './create-inferkit.js';
export type { InferkitModelEntry, InferkitProviderSettings } from './inferkit-provider-settings.js';
