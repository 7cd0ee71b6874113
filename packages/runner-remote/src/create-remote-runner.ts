import {
  DEFAULT_RETRY_POLICY,
  SupervisedRunner,
  type CircuitBreakerConfig,
  type RateLimitObservation,
  type SupervisePolicy,
} from '@inferkit/inference-core';
import { createAnthropicRunner, type AnthropicRunnerOptions } from './anthropic/anthropic-runner.js';
import { createGeminiRunner, type GeminiRunnerOptions } from './gemini/gemini-runner.js';
import type { RateLimitSnapshot } from './http/response-headers.js';
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
  /** Overrides of the reliability policy; each field replaces the default for that field. */
  policy?: SupervisePolicy;
};

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
 * first chunk), a circuit breaker for the origin, and a rate limiter fed by the provider's
 * rate-limit headers (it waits out an exhausted window instead of collecting 429s).
 */
export function createRemoteRunner(config: RemoteRunnerConfig): SupervisedRemoteRunner {
  const { policy, ...providerConfig } = config;
  // The headers feed the supervisor's limiter, which exists only once the supervisor does.
  let supervised: SupervisedRemoteRunner | undefined;
  const observe = (snapshot: RateLimitSnapshot): void => {
    const limiter = supervised?.limiter;
    if (limiter !== undefined) limiter.observe(toObservation(snapshot));
  };
  const remote = createProviderRunner({ ...providerConfig, onRateLimitHeaders: chain(providerConfig.onRateLimitHeaders, observe) } as RemoteProviderConfig);
  supervised = new SupervisedRemoteRunner(remote, {
    retry: { ...DEFAULT_RETRY_POLICY },
    circuitBreaker: { ...DEFAULT_REMOTE_BREAKER },
    // Always a limiter, even without configured limits: provider headers can still pause admission.
    rateLimits: providerConfig.rateLimits ?? {},
    name: remote.describe(),
    ...policy,
  });
  return supervised;
}

function createProviderRunner(config: RemoteProviderConfig): RemoteRunner {
  switch (config.provider) {
    case 'openai':
      return createOpenAIRunner(config);
    case 'openai-compatible':
      return createOpenAICompatibleRunner(config);
    case 'azure-openai':
      return createAzureOpenAIRunner(config);
    case 'anthropic':
      return createAnthropicRunner(config);
    case 'gemini':
      return createGeminiRunner(config);
    default:
      throw new RangeError(`createRemoteRunner: unknown provider ${JSON.stringify((config as { provider?: unknown }).provider)}`);
  }
}

/** Header snapshot → core observation; the reset that matters is that of an exhausted bucket. */
export function toObservation(s: RateLimitSnapshot): RateLimitObservation {
  const obs: RateLimitObservation = {};
  const rr = s.requests?.remaining;
  const rt = s.tokens?.remaining;
  if (rr !== undefined) obs.remainingRequests = rr;
  if (rt !== undefined) obs.remainingTokens = rt;
  const resets = [rr === 0 ? s.requests?.resetMs : undefined, rt === 0 ? s.tokens?.resetMs : undefined].filter(
    (v): v is number => v !== undefined,
  );
  if (resets.length > 0) obs.resetMs = Math.max(...resets);
  return obs;
}

function chain(
  user: ((snapshot: RateLimitSnapshot, status: number) => void) | undefined,
  ours: (snapshot: RateLimitSnapshot) => void,
): (snapshot: RateLimitSnapshot, status: number) => void {
  if (user === undefined) return ours;
  return (snapshot, status) => {
    ours(snapshot);
    user(snapshot, status);
  };
}
