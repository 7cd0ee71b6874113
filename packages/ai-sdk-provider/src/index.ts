// @inferkit/ai-sdk-provider — inferkit runners as AI SDK language models.
export { createInferkit, INFERKIT_PROVIDER } from './create-inferkit.js';
export type { InferkitProvider } from './create-inferkit.js';
export type { InferkitModelEntry, InferkitProviderSettings } from './inferkit-provider-settings.js';
