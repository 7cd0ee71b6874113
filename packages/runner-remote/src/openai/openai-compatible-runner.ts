import { InferenceError, RunnerOptions, type ProviderKind, type RunnerCapabilities, type RuntimeKind } from '@inferkit/inference-core';
import type { CredentialInput } from '../http/credentials.js';
import { DEEPSEEK_PRICES } from '../pricing/pricing-table.js';
import type { PriceTable } from '../pricing/model-price.js';
import { readCapabilities, REMOTE_RUNNER_OPTION_KEYS } from '../read-remote-runner-options.js';
import { RemoteRunner } from '../remote-runner.js';
import {
  basePathOf,
  OPENAI_OPTION_KEYS,
  openAIWireSettings,
  OpenAIWire,
  readOpenAIOptions,
  type OpenAIRunnerOptions,
  type OpenAIWireSettings,
  type TokenLimitField,
} from './openai-runner.js';

/** Servers and services that speak Chat Completions, with their conventions. */
export type OpenAICompatiblePreset = 'vllm' | 'llamacpp' | 'ollama' | 'litellm' | 'openrouter' | 'groq' | 'together' | 'deepseek' | 'custom';

/** The Chat Completions features a preset's server honours, and how it continues a message. */
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
  capabilities: Readonly<RunnerCapabilities>;
  continuation: OpenAIWireSettings['continuation'];
}

// Every preset forwards tools, response formats, images and penalties as Chat Completions
// defines them; a server that lacks one for the model at hand answers 400 (a clear
// `bad_request`), it does not ignore it. DeepSeek's API takes text only.
const CHAT: Readonly<RunnerCapabilities> = Object.freeze({ tools: true, responseFormat: true, images: true, penalties: true });
// vLLM and llama.cpp server continue a final assistant message (`continue_final_message`).
const CHAT_CONTINUING: Readonly<RunnerCapabilities> = Object.freeze({ ...CHAT, continuation: true });
const TEXT_ONLY: Readonly<RunnerCapabilities> = Object.freeze({ tools: true, responseFormat: true, penalties: true });

/**
 * Base URLs, auth conventions and capabilities per preset. Local servers (vLLM, llama.cpp,
 * Ollama, a LiteLLM proxy) take an optional bearer key; hosted services require one. Prices are
 * known only for DeepSeek's own models; for the others the model ids are the host's and cost
 * stays unknown unless `pricing` is given.
 */
export const OPENAI_COMPATIBLE_PRESETS: Readonly<Record<Exclude<OpenAICompatiblePreset, 'custom'>, PresetSpec>> = {
  vllm: { ...spec('http://localhost:8000/v1', 'VLLM_API_KEY', false, 'vllm', 'openai', true, CHAT_CONTINUING), continuation: 'continue_final_message' },
  llamacpp: { ...spec('http://localhost:8080/v1', 'LLAMA_API_KEY', false, 'openai', 'openai', true, CHAT_CONTINUING), continuation: 'continue_final_message' },
  ollama: spec('http://localhost:11434/v1', undefined, false, 'openai', 'openai', false, CHAT),
  litellm: spec('http://localhost:4000/v1', 'LITELLM_API_KEY', false, 'litellm', 'litellm', false, CHAT),
  openrouter: spec('https://openrouter.ai/api/v1', 'OPENROUTER_API_KEY', true, 'openai', 'openai', true, CHAT),
  groq: spec('https://api.groq.com/openai/v1', 'GROQ_API_KEY', true, 'openai', 'openai', false, CHAT),
  together: spec('https://api.together.xyz/v1', 'TOGETHER_API_KEY', true, 'openai', 'openai', true, CHAT),
  deepseek: { ...spec('https://api.deepseek.com/v1', 'DEEPSEEK_API_KEY', true, 'openai', 'openai', false, TEXT_ONLY), prices: DEEPSEEK_PRICES },
};

const PRESETS = ['vllm', 'llamacpp', 'ollama', 'litellm', 'openrouter', 'groq', 'together', 'deepseek', 'custom'] as const;

function spec(
  baseUrl: string,
  apiKeyEnv: string | undefined,
  credentialRequired: boolean,
  runtime: RuntimeKind,
  provider: ProviderKind,
  supportsTopK: boolean,
  capabilities: Readonly<RunnerCapabilities>,
): PresetSpec {
  return {
    baseUrl,
    apiKeyEnv,
    credentialRequired,
    runtime,
    provider,
    supportsTopK,
    streamUsage: true,
    tokenLimitField: 'max_tokens',
    prices: {},
    capabilities,
    continuation: false,
  };
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
  /**
   * Overrides of the preset's capabilities, for a server started without a feature (llama.cpp
   * without `--jinja` has no tools) or a model without one (no vision: `images: false`).
   * `continuation: true` makes the runner send `continue_final_message` (vLLM's convention).
   */
  capabilities?: Partial<RunnerCapabilities>;
}

/** Option keys of `createOpenAICompatibleRunner` beyond OpenAI's. */
export const OPENAI_COMPATIBLE_OPTION_KEYS = ['preset', 'supportsTopK', 'streamUsage', 'requireApiKey', 'capabilities'] as const;

/**
 * A runner for an OpenAI-compatible server (vLLM, llama.cpp, Ollama, LiteLLM, OpenRouter, Groq,
 * Together, DeepSeek, ...).
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createOpenAICompatibleRunner(options: OpenAICompatibleRunnerOptions): RemoteRunner {
  const raw = new RunnerOptions(options, 'openai-compatible', [...REMOTE_RUNNER_OPTION_KEYS, ...OPENAI_OPTION_KEYS, ...OPENAI_COMPATIBLE_OPTION_KEYS]);
  const preset = raw.oneOf('preset', PRESETS);
  if (preset === undefined) throw raw.error('preset', `is required (one of ${PRESETS.join(', ')})`);
  const o = readOpenAIOptions(raw);
  const supportsTopK = raw.boolean('supportsTopK');
  const streamUsage = raw.boolean('streamUsage');
  const requireApiKey = raw.boolean('requireApiKey');
  const overrides = readCapabilities(raw, 'capabilities');
  const known = preset !== 'custom' ? OPENAI_COMPATIBLE_PRESETS[preset] : undefined;
  const baseUrl = o.baseUrl ?? known?.baseUrl;
  if (baseUrl === undefined) throw new InferenceError('bad_request', `${preset}: baseUrl is required`, { details: { param: 'baseUrl' } });
  let apiKey: CredentialInput | undefined = o.apiKey;
  if (apiKey === undefined && known?.apiKeyEnv !== undefined) {
    const name = known.apiKeyEnv;
    // Optional keys are read only if set, so local servers work with no configuration at all.
    apiKey = known.credentialRequired || process.env[name] !== undefined ? { from: 'env', name } : undefined;
  }
  const capabilities: RunnerCapabilities = { ...(known?.capabilities ?? CHAT), ...overrides };
  // Token ids never cross this API.
  if (capabilities.tokenIds === true) throw raw.error('capabilities.tokenIds', 'cannot be true: Chat Completions carries no token ids');
  const wire = new OpenAIWire(
    openAIWireSettings(preset, basePathOf(baseUrl, preset), o, {
      runtime: known?.runtime ?? 'openai',
      provider: known?.provider ?? 'openai',
      supportsTopK: supportsTopK ?? known?.supportsTopK ?? false,
      streamUsage: streamUsage ?? known?.streamUsage ?? true,
      tokenLimitField: o.tokenLimitField ?? known?.tokenLimitField ?? 'max_tokens',
      continuation: capabilities.continuation === true ? 'continue_final_message' : false,
    }),
  );
  return new RemoteRunner({
    wire,
    baseUrl,
    options: { ...o, ...(apiKey !== undefined ? { apiKey } : {}) },
    defaultPrices: known?.prices ?? {},
    credentialRequired: requireApiKey ?? known?.credentialRequired ?? false,
    capabilities,
  });
}
