// Picks a remote provider from environment variables and builds its runner. Kept apart from
// chat.mjs so the test can check the selection rules without running a request.
import { runnerFactory } from '@inferkit/runner-remote';

/** Provider → the variables it reads and the model used when INFERKIT_MODEL is unset. */
export const PROVIDERS = {
  openai: { keyEnv: 'OPENAI_API_KEY', baseUrlEnv: 'OPENAI_BASE_URL', defaultModel: 'gpt-4o-mini' },
  anthropic: { keyEnv: 'ANTHROPIC_API_KEY', baseUrlEnv: 'ANTHROPIC_BASE_URL', defaultModel: 'claude-3-5-haiku-latest' },
  gemini: { keyEnv: 'GEMINI_API_KEY', baseUrlEnv: 'GEMINI_BASE_URL', defaultModel: 'gemini-2.0-flash' },
};

/** No provider can be used: `message` says which variables to set. */
export class MissingConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MissingConfigError';
  }
}

const HELP = `Set one of:
  OPENAI_API_KEY                      OpenAI (https://api.openai.com/v1)
  OPENAI_BASE_URL [+ OPENAI_API_KEY]  any OpenAI-compatible server: vLLM, llama.cpp, Ollama, LiteLLM, ...
  ANTHROPIC_API_KEY                   Anthropic Messages API
  GEMINI_API_KEY                      Google Gemini (AI Studio)
Optional: INFERKIT_PROVIDER=openai|anthropic|gemini to choose when several are set,
          INFERKIT_MODEL=<model id> (defaults: ${Object.entries(PROVIDERS).map(([p, s]) => `${p} ${s.defaultModel}`).join(', ')}).`;

/**
 * Chooses the provider: INFERKIT_PROVIDER if set, else the first of openai, anthropic, gemini
 * whose key (or, for OpenAI-compatible servers, base URL) is present.
 * @returns {{ provider: string, model: string, baseUrl: string | undefined, runner: import('@inferkit/inference-core').ModelRunner }}
 */
export function runnerFromEnv(env = process.env) {
  const chosen = env.INFERKIT_PROVIDER;
  if (chosen !== undefined && !(chosen in PROVIDERS)) {
    throw new MissingConfigError(`INFERKIT_PROVIDER=${chosen} is not one of ${Object.keys(PROVIDERS).join(', ')}.\n${HELP}`);
  }
  const usable = (p) => Boolean(env[PROVIDERS[p].keyEnv]) || (p === 'openai' && Boolean(env.OPENAI_BASE_URL));
  const provider = chosen ?? Object.keys(PROVIDERS).find(usable);
  if (provider === undefined) throw new MissingConfigError(`No API key found.\n${HELP}`);
  const spec = PROVIDERS[provider];
  if (!usable(provider)) {
    throw new MissingConfigError(`INFERKIT_PROVIDER=${provider} but ${spec.keyEnv} is not set.\n${HELP}`);
  }
  const model = env.INFERKIT_MODEL || spec.defaultModel;
  const baseUrl = env[spec.baseUrlEnv] || undefined;
  // The key is passed as a reference to the variable, not its value: the runner reads it on
  // demand (and again on rebuildSession), and never prints it.
  const apiKey = env[spec.keyEnv] ? { from: 'env', name: spec.keyEnv } : undefined;
  // The registry entry a gateway config uses too: options checked (bad_request naming the
  // field), and the runner comes supervised (retries, a breaker, the provider's rate-limit
  // headers feeding the limiter).
  const options =
    provider === 'openai' && baseUrl !== undefined
      ? { provider: 'openai-compatible', preset: 'custom', baseUrl, ...(apiKey !== undefined ? { apiKey } : {}) }
      : { provider, apiKey, ...(baseUrl !== undefined ? { baseUrl } : {}) };
  const runner = runnerFactory.create(options);
  return { provider, model, baseUrl, runner };
}
