/**
 * The wire protocol family of a remote provider. OpenAI-compatible servers (vLLM, llama.cpp,
 * Ollama, LiteLLM proxy, Azure) are `openai`; the preset name lives in the runner's config.
 */
export type ProviderKind = 'openai' | 'anthropic' | 'gemini' | 'litellm' | `custom:${string}`;
