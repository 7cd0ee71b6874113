import type { RuntimeKind } from './runtime-kind.js';

// Ordered: first match wins. Provider prefixes (`openai/gpt-4o`, LiteLLM style) are stripped first.
const RULES: ReadonlyArray<readonly [RegExp, RuntimeKind]> = [
  [/^(gpt-5|gpt-4\.1|gpt-4o|gpt-4|gpt-3\.5|chatgpt-|o1|o3|o4|codex-|text-embedding-|davinci|babbage)/, 'openai'],
  [/^claude-/, 'anthropic'],
  [/^(gemini-|learnlm-)/, 'gemini'],
  // Llama-architecture families the native engine runs (CPU fallback without a GPU).
  [/^(llama|meta-llama|tinyllama|smollm|mistral-7b|mistral-nemo|qwen2|qwen3|codellama|vicuna|open_llama)/, 'cuda'],
  // Other Hugging Face families: served through vLLM.
  [/^(mixtral|mistral|qwen|phi|gemma|deepseek|falcon|gpt2|gpt-j|gpt-neox|opt-|bloom|starcoder|olmo|granite|command-r|internlm|yi-|baichuan|chatglm|glm-)/, 'vllm'],
];

const PROVIDER_PREFIXES: Readonly<Record<string, RuntimeKind>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'gemini',
  litellm: 'litellm',
  vllm: 'vllm',
};

/**
 * Guesses the runtime for a model name: `gpt-5*`, `gpt-4.1*`, `gpt-4o*`, `o1/o3/o4*` → `openai`;
 * `claude-*` → `anthropic`; `gemini-*` → `gemini`; Llama-family names (`llama*`, `tinyllama`,
 * `smollm*`, `qwen2*`, `mistral-7b*`) → `cuda`; other Hugging Face families (`mixtral`, `phi`,
 * `gemma`, `deepseek`, ...) → `vllm`. Hugging Face ids (`org/name`) are matched on `name`;
 * provider prefixes (`openai/…`, `anthropic/…`, `litellm/…`) decide directly.
 * Returns `undefined` when unsure — never a silent default.
 */
export function inferRuntime(model: string): RuntimeKind | undefined {
  if (typeof model !== 'string') return undefined;
  let name = model.trim().toLowerCase();
  if (name === '') return undefined;
  const slash = name.indexOf('/');
  if (slash > 0) {
    const prefix = name.slice(0, slash);
    const direct = PROVIDER_PREFIXES[prefix];
    if (direct !== undefined) return direct;
    name = name.slice(name.lastIndexOf('/') + 1); // HF repo id: org/name
  }
  for (const [re, kind] of RULES) if (re.test(name)) return kind;
  return undefined;
}
