export { RemoteRunner, DEFAULT_MAX_RATE_LIMIT_WAIT_MS } from './remote-runner.js';
export type { ChunkEmitter, ProviderWire, RemoteRunnerInit, RemoteRunnerOptions } from './remote-runner.js';

export { createOpenAIRunner, OPENAI_BASE_URL, OPENAI_CAPABILITIES, OpenAIWire, parseOpenAIError } from './openai/openai-runner.js';
export type { OpenAIRunnerOptions, TokenLimitField } from './openai/openai-runner.js';
export { createOpenAICompatibleRunner, OPENAI_COMPATIBLE_PRESETS } from './openai/openai-compatible-runner.js';
export type { OpenAICompatiblePreset, OpenAICompatibleRunnerOptions } from './openai/openai-compatible-runner.js';
export { AZURE_OPENAI_DEFAULT_API_VERSION, createAzureOpenAIRunner } from './openai/azure-openai-runner.js';
export type { AzureOpenAIRunnerOptions } from './openai/azure-openai-runner.js';

export { CredentialSource, MIN_SECRET_FRAGMENT, Secret } from './http/credentials.js';
export type { CredentialInput } from './http/credentials.js';
export { DEFAULT_TIMEOUTS, MAX_TIMEOUT_MS } from './http/timeouts.js';
export type { HttpTimeouts } from './http/timeouts.js';
export type { HttpPoolStats } from './http/http-transport.js';
export { MAX_INFLATE_RATIO } from './http/http-transport.js';
export { DEFAULT_MAX_EVENT_BYTES, SseEventTooLargeError, SseParser } from './http/sse-parser.js';
export type { SseEventHandler } from './http/sse-parser.js';
export { parseDurationMs, parseRateLimitHeaders, parseRetryAfterMs, toObservation } from './http/response-headers.js';
export type { RateLimitSnapshot } from './http/response-headers.js';

export { costFromUsage, estimateCost, findPrice, mergePriceTables } from './pricing/cost.js';
export type { ModelPrice, PriceTable } from './pricing/model-price.js';
export { ANTHROPIC_PRICES, DEEPSEEK_PRICES, GEMINI_PRICES, OPENAI_PRICES } from './pricing/pricing-table.js';

export { ANTHROPIC_BASE_URL, ANTHROPIC_CAPABILITIES, ANTHROPIC_VERSION, AnthropicWire, createAnthropicRunner } from './anthropic/anthropic-runner.js';
export type { AnthropicRunnerOptions } from './anthropic/anthropic-runner.js';
export { createGeminiRunner, GEMINI_BASE_URL, GEMINI_CAPABILITIES, GeminiWire } from './gemini/gemini-runner.js';
export type { GeminiRunnerOptions } from './gemini/gemini-runner.js';

export { createRemoteRunner, DEFAULT_REMOTE_BREAKER, REMOTE_PROVIDERS, runnerFactory, SupervisedRemoteRunner } from './create-remote-runner.js';
export type { RemoteProviderConfig, RemoteRunnerConfig } from './create-remote-runner.js';
