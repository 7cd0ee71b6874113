/**
 * Why generation ended, unified across runtimes.
 * - `stop`: natural end or a stop string; `length`: `maxTokens` or context limit reached;
 * - `tool_calls`: the model called tools; `content_filter`: the provider filtered output;
 * - `error`: the runtime ended the sequence abnormally but still produced a final chunk.
 */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error';
