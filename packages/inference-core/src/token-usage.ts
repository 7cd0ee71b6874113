/**
 * Token counts for one request. `undefined` means unknown, never 0. Runners may report usage on
 * several chunks (e.g. input first, output at the end); `Tokens` merges them field by field, the
 * latest defined value winning.
 */
export interface TokenUsage {
  /** Prompt tokens, including cached ones. */
  inputTokens?: number;
  /** Generated tokens, including reasoning tokens. */
  outputTokens?: number;
  /** Of `outputTokens`, how many were hidden reasoning tokens. */
  reasoningTokens?: number;
  /** Of `inputTokens`, how many were served from a prompt cache. */
  cachedTokens?: number;
}
