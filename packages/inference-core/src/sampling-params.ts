/**
 * Sampling settings. Every field is optional; `undefined` means "the runtime's default", never 0.
 */
export interface SamplingParams {
  /** Softmax temperature; 0 means greedy where the runtime supports it. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest token set whose probability mass reaches `topP`. */
  topP?: number;
  /** Keep only the `topK` most likely tokens. */
  topK?: number;
  /** Maximum number of tokens to generate. */
  maxTokens?: number;
  /** Stop strings: generation ends before any of them is emitted. */
  stop?: string[];
  /** Penalty for tokens that already appeared at all (OpenAI semantics, -2..2). */
  presencePenalty?: number;
  /** Penalty proportional to how often a token appeared (OpenAI semantics, -2..2). */
  frequencyPenalty?: number;
  /**
   * Repetition penalty, an extension (transformers / vLLM / llama.cpp semantics, > 0; 1 = off): the
   * logit of every token already in the prompt or the output is divided by it when positive and
   * multiplied by it when negative. Runners declare it with `capabilities().repetitionPenalty`.
   */
  repetitionPenalty?: number;
  /** Seed for reproducible sampling where the runtime supports it. */
  seed?: number;
}
