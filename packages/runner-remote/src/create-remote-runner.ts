import {
  DEFAULT_RETRY_POLICY,
  InferenceError,
  SupervisedRunner,
  type CircuitBreakerConfig,
  type RunnerFactory,
  type SupervisePolicy,
} from '@inferkit/inference-core';
import { createAnthropicRunner, type AnthropicRunnerOptions } from './anthropic/anthropic-runner.js';
import { createGeminiRunner, type GeminiRunnerOptions } from './gemini/gemini-runner.js';
import { createAzureOpenAIRunner, type AzureOpenAIRunnerOptions } from './openai/azure-openai-runner.js';
import { createOpenAICompatibleRunner, type OpenAICompatibleRunnerOptions } from './openai/openai-compatible-runner.js';
import { createOpenAIRunner, type OpenAIRunnerOptions } from './openai/openai-runner.js';
import type { RemoteRunner } from './remote-runner.js';

/** Which API, and that API's options. */
export type RemoteProviderConfig =
  | ({ provider: 'openai' } & OpenAIRunnerOptions)
  | ({ provider: 'openai-compatible' } & OpenAICompatibleRunnerOptions)
  | ({ provider: 'azure-openai' } & AzureOpenAIRunnerOptions)
  | ({ provider: 'anthropic' } & AnthropicRunnerOptions)
  | ({ provider: 'gemini' } & GeminiRunnerOptions);

export type RemoteRunnerConfig = RemoteProviderConfig & {
  /**
   * Overrides of the reliability policy; each field replaces the default for that field.
   * `false`: no policy at all, the provider's runner as is (`runnerFactory.create` then returns
   * a plain `RemoteRunner`), e.g. when the caller supervises it itself.
   */
  policy?: SupervisePolicy | false;
};

/** The providers `createRemoteRunner` and `runnerFactory` know. */
export const REMOTE_PROVIDERS = ['openai', 'openai-compatible', 'azure-openai', 'anthropic', 'gemini'] as const;

/** The core `SupervisedRunner` around a remote runner, which stays reachable as `remote` (connection stats, prices). */
export class SupervisedRemoteRunner extends SupervisedRunner {
  readonly remote: RemoteRunner;
  constructor(remote: RemoteRunner, policy: SupervisePolicy) {
    super(remote, policy);
    this.remote = remote;
  }
}

/**
 * Breaker defaults: 5 failures (network, 5xx, timeouts — not 4xx) within 30 s open it for 10 s,
 * doubling per failed probe up to 80 s. One breaker per runner, and a runner talks to one origin.
 */
export const DEFAULT_REMOTE_BREAKER: Readonly<CircuitBreakerConfig> = Object.freeze({
  failureThreshold: 5,
  windowMs: 30_000,
  openDurationMs: 10_000,
});

/**
 * The plain path to a reliable remote runner: the provider's runner wrapped in the core
 * `supervise()` with 2 retries (full jitter, Retry-After honoured up to 60 s, only before the
 * first chunk), a circuit breaker for the origin, and a rate limiter that the provider's
 * rate-limit headers feed through `observeRateLimits` (it waits out an exhausted window instead
 * of collecting 429s). Validates like `runnerFactory.create`; `policy: false` is refused here
 * (use the provider's `create…Runner` for an unsupervised runner).
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createRemoteRunner(config: RemoteRunnerConfig): SupervisedRemoteRunner {
  const made = create(config);
  if (!(made instanceof SupervisedRemoteRunner)) {
    void made.close();
    throw new InferenceError('bad_request', "createRemoteRunner: policy false gives an unsupervised runner; use runnerFactory.create or the provider's create…Runner", {
      details: { param: 'policy' },
    });
  }
  return made;
}

/**
 * The registry entry a gateway config loads: `{ "runner": "@inferkit/runner-remote", "options":
 * { "provider": "anthropic", "apiKey": { "from": "env", "name": "ANTHROPIC_API_KEY" } } }`.
 * `create` returns the supervised runner of `createRemoteRunner` (so the provider's rate-limit
 * headers reach its limiter), or with `"policy": false` the provider's runner alone.
 */
export const runnerFactory: RunnerFactory<RemoteRunnerConfig> = {
  kind: 'remote',
  create: (options) => create(options),
};

function create(config: RemoteRunnerConfig): SupervisedRemoteRunner | RemoteRunner {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InferenceError('bad_request', 'remote: options must be an object', { details: { param: 'options' } });
  }
  const { policy, ...providerConfig } = config;
  if (policy !== undefined && policy !== false && (typeof policy !== 'object' || policy === null || Array.isArray(policy))) {
    throw new InferenceError('bad_request', 'remote: policy must be an object or false', { details: { param: 'policy' } });
  }
  const remote = createProviderRunner(providerConfig as RemoteProviderConfig);
  if (policy === false) return remote;
  try {
    return new SupervisedRemoteRunner(remote, {
      retry: { ...DEFAULT_RETRY_POLICY },
      circuitBreaker: { ...DEFAULT_REMOTE_BREAKER },
      name: remote.describe(),
      ...policy,
    });
  } catch (e) {
    void remote.close();
    // The core refuses an unusable policy with a RangeError naming the field.
    if (e instanceof RangeError) throw new InferenceError('bad_request', `remote: policy: ${e.message}`, { details: { param: 'policy' }, cause: e });
    throw e;
  }
}

function createProviderRunner(config: RemoteProviderConfig): RemoteRunner {
  const { provider, ...options } = config as RemoteProviderConfig & Record<string, unknown>;
  switch (provider) {
    case 'openai':
      return createOpenAIRunner(options);
    case 'openai-compatible':
      return createOpenAICompatibleRunner(options as unknown as OpenAICompatibleRunnerOptions);
    case 'azure-openai':
      return createAzureOpenAIRunner(options);
    case 'anthropic':
      return createAnthropicRunner(options);
    case 'gemini':
      return createGeminiRunner(options);
    default:
      throw new InferenceError('bad_request', `remote: provider must be one of ${REMOTE_PROVIDERS.join(', ')}, got ${JSON.stringify(provider)?.slice(0, 60)}`, {
        details: { param: 'provider' },
      });
  }
}
