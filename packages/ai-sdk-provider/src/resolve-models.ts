import { NoSuchModelError } from '@ai-sdk/provider';
import { InferenceError, type ModelRunner } from '@inferkit/inference-core';
import type { InferkitLanguageModelConfig } from './inferkit-language-model.js';
import type { InferkitProviderSettings } from './inferkit-provider-settings.js';

/** The AI SDK `provider` of every model, and the key of their `providerMetadata`. */
export const INFERKIT_PROVIDER = 'inferkit';

const SETTINGS_KEYS = new Set(['models']);
const ENTRY_KEYS = new Set(['runner', 'model']);

/**
 * Checks `createInferkit` settings and returns the lookup of a model's configuration by id, which
 * throws `NoSuchModelError` (listing the ids there are) for an unknown one. Malformed or unknown
 * settings throw `InferenceError('bad_request')` naming the setting.
 */
export function resolveModels(settings: InferkitProviderSettings): (modelId: string) => InferkitLanguageModelConfig {
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
  return (modelId) => {
    const config = typeof modelId === 'string' && Object.hasOwn(out, modelId) ? out[modelId] : undefined;
    if (config !== undefined) return config;
    throw new NoSuchModelError({
      modelId: String(modelId),
      modelType: 'languageModel',
      message: `inferkit has no model ${JSON.stringify(String(modelId))}; createInferkit({ models }) lists ${ids.map((k) => JSON.stringify(k)).join(', ')}`,
    });
  };
}

function isRunner(value: unknown): value is ModelRunner {
  return typeof value === 'object' && value !== null && typeof (value as ModelRunner).execute === 'function';
}

function bad(param: string, why: string): InferenceError {
  return new InferenceError('bad_request', `createInferkit: ${param} ${why}`, { details: { param } });
}
