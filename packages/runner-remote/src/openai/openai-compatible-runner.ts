import { InferenceError, type RuntimeKind, type ProviderKind } from '@inferkit/inference-core';
import { DEEPSEEK_PRICES } from '../pricing/pricing-table.js';
import type { PriceTable } from '../pricing/model-price.js';
import type { RemoteRunner } from '../remote-runner.js';
import type { CredentialInput } from '../http/credentials.js';
import {
  basePathOf,
  createOpenAIStyleRunner,
  openAIWireSettings,
  OpenAIWire,
  type OpenAIRunnerOptions,
  type TokenLimitField,
} from './openai-runner.js';

/** Servers and services that speak Chat Completions, with their conventions. */
export type OpenAICompatiblePreset = 'vllm' | 'llamacpp' | 'ollama' | 'litellm' | 'openrouter' | 'groq' | 'together' | 'deepseek' | 'custom';

interface PresetSpec {
  baseUrl: string | undefined;
  /** Environment variable read when no apiKey is given. */
  apiKeyEnv: string | undefined;
  /** Hosted services reject unauthenticated calls; local servers usually run without a key. */
  credentialRequired: boolean;
  runtime: RuntimeKind;
  provider: ProviderKind;
  supportsTopK: boolean;
  streamUsage: boolean;
  tokenLimitField: TokenLimitField;
  prices: PriceTable;
}

/**
 * Base URLs and auth conventions per preset. Local servers (vLLM, llama.cpp, Ollama, a LiteLLM
 * proxy) take an optional bearer key; hosted services require one. Prices are known only for
 * DeepSeek's own models; for the others the model ids are the host's and cost stays unknown
 * unless `pricing` is given.
 */
export const OPENAI_COMPATIBLE_PRESETS: Readonly<Record<Exclude<OpenAICompatiblePreset, 'custom'>, PresetSpec>> = {
  vllm: spec('http://localhost:8000/v1', 'VLLM_API_KEY', false, 'vllm', 'openai', true),
  llamacpp: spec('http://localhost:8080/v1', 'LLAMA_API_KEY', false, 'openai', 'openai', true),
  ollama: spec('http://localhost:11434/v1', undefined, false, 'openai', 'openai', false),
  litellm: spec('http://localhost:4000/v1', 'LITELLM_API_KEY', false, 'litellm', 'litellm', false),
  openrouter: spec('https://openrouter.ai/api/v1', 'OPENROUTER_API_KEY', true, 'openai', 'openai', true),
  groq: spec('https://api.groq.com/openai/v1', 'GROQ_API_KEY', true, 'openai', 'openai', false),
  together: spec('https://api.together.xyz/v1', 'TOGETHER_API_KEY', true, 'openai', 'openai', true),
  deepseek: { ...spec('https://api.deepseek.com/v1', 'DEEPSEEK_API_KEY', true, 'openai', 'openai', false), prices: DEEPSEEK_PRICES },
};

function spec(
  baseUrl: string,
  apiKeyEnv: string | undefined,
  credentialRequired: boolean,
  runtime: RuntimeKind,
  provider: ProviderKind,
  supportsTopK: boolean,
): PresetSpec {
  return { baseUrl, apiKeyEnv, credentialRequired, runtime, provider, supportsTopK, streamUsage: true, tokenLimitField: 'max_tokens', prices: {} };
}

export interface OpenAICompatibleRunnerOptions extends OpenAIRunnerOptions {
  /** Which server; `custom` needs `baseUrl` and takes the settings below. */
  preset: OpenAICompatiblePreset;
  /** Whether the server takes `top_k` (default from the preset; `false` for `custom`). */
  supportsTopK?: boolean;
  /** Whether to request `stream_options.include_usage` (default true). */
  streamUsage?: boolean;
  /** Whether calls without a credential are refused locally (default from the preset). */
  requireApiKey?: boolean;
}

/** A runner for an OpenAI-compatible server (vLLM, llama.cpp, Ollama, LiteLLM, OpenRouter, Groq, Together, DeepSeek, ...). */
export function createOpenAICompatibleRunner(options: OpenAICompatibleRunnerOptions): RemoteRunner {
  const preset = options?.preset;
  const known = preset !== 'custom' ? OPENAI_COMPATIBLE_PRESETS[preset] : undefined;
  if (preset !== 'custom' && known === undefined) {
    throw new InferenceError('bad_request', `unknown OpenAI-compatible preset ${JSON.stringify(preset)}`, { details: { param: 'preset' } });
  }
  const baseUrl = options.baseUrl ?? known?.baseUrl;
  if (baseUrl === undefined) throw new InferenceError('bad_request', `${preset}: baseUrl is required`, { details: { param: 'baseUrl' } });
  let apiKey: CredentialInput | undefined = options.apiKey;
  if (apiKey === undefined && known?.apiKeyEnv !== undefined) {
    const name = known.apiKeyEnv;
    // Optional keys are read only if set, so local servers work with no configuration at all.
    apiKey = known.credentialRequired || process.env[name] !== undefined ? { from: 'env', name } : undefined;
  }
  const wire = new OpenAIWire(
    openAIWireSettings(preset, basePathOf(baseUrl, preset), options, {
      runtime: known?.runtime ?? 'openai',
      provider: known?.provider ?? 'openai',
      supportsTopK: options.supportsTopK ?? known?.supportsTopK ?? false,
      streamUsage: options.streamUsage ?? known?.streamUsage ?? true,
      tokenLimitField: options.tokenLimitField ?? known?.tokenLimitField ?? 'max_tokens',
    }),
  );
  return createOpenAIStyleRunner(
    wire,
    baseUrl,
    { ...options, ...(apiKey !== undefined ? { apiKey } : {}) },
    known?.prices ?? {},
    options.requireApiKey ?? known?.credentialRequired ?? false,
  );
}
