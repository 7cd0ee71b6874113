import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { TEST_THREADS } from './runner.js';

/** llama.cpp on the CPU, quiet, never built here: the prebuilt binary node-llama-cpp ships. */
export function loadLlamaCpp(): Promise<Llama> {
  return getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
}

/**
 * A 256-token context with an f32 KV cache and no flash attention: llama.cpp's defaults (f16
 * K/V) round logits by ~1e-3, enough to flip near-ties between random-weight logits.
 */
export function llamaCppContext(model: LlamaModel): Promise<LlamaContext> {
  return model.createContext({
    contextSize: 256,
    batchSize: 256,
    threads: TEST_THREADS,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
  });
}

const GREEDY = { generateNext: { token: true, options: { temperature: 0 } } } as const;

/** llama.cpp's greedy continuation of `prompt`, `n` tokens, on a sequence of its own in `ctx`. */
export async function llamaCppGreedy(ctx: LlamaContext, prompt: number[], n: number): Promise<number[]> {
  // Token by token through controlledEvaluate: `evaluate()` would end at llama.cpp's
  // end-of-generation tokens (EOS, and control tokens such as <|im_end|>), which random
  // weights emit now and then, while the comparison wants all n tokens.
  const seq = ctx.getSequence();
  try {
    const out: number[] = [];
    let input: unknown[] = [...prompt.slice(0, -1), [prompt[prompt.length - 1], GREEDY]];
    while (out.length < n) {
      const result = await seq.controlledEvaluate(input as never);
      const next = result[result.length - 1]?.next.token;
      if (typeof next !== 'number') throw new Error(`llama.cpp produced no token after ${out.length}`);
      out.push(next);
      input = [[next, GREEDY]];
    }
    return out;
  } finally {
    seq.dispose();
  }
}

/** llama.cpp's top-1 next token at every position of `tokens`, in one batch (teacher forcing). */
export async function llamaCppTopOne(ctx: LlamaContext, tokens: number[]): Promise<number[]> {
  const seq = ctx.getSequence();
  try {
    const result = await seq.controlledEvaluate(tokens.map((t) => [t, GREEDY]) as never);
    return result.map((r) => {
      const t = r?.next.token;
      if (typeof t !== 'number') throw new Error('llama.cpp returned no token for a position');
      return t;
    });
  } finally {
    seq.dispose();
  }
}
