import type { Message, ToolDefinition } from '@inferkit/inference-core';

/** Output tokens assumed when the call sets no `maxOutputTokens` (the gateway's default too). */
export const DEFAULT_ESTIMATED_OUTPUT_TOKENS = 256;

/**
 * `ExecuteBatch.estimatedTokens` without a tokenizer, as the gateway computes it: about four
 * characters per token of text, tool-call and tool JSON, 85 per image, 4 per message, plus the
 * expected output. Only rate limiters and budgets read it; runners report exact usage.
 */
export function estimateTokens(messages: Message[], tools: ToolDefinition[] | undefined, maxOutputTokens: number | undefined): number {
  let chars = 0;
  let images = 0;
  for (const m of messages) {
    if (typeof m.content === 'string') chars += m.content.length;
    else for (const p of m.content) if (p.type === 'text') chars += p.text.length;
    else images++;
    if (m.toolCalls !== undefined) for (const c of m.toolCalls) chars += c.name.length + c.arguments.length;
  }
  if (tools !== undefined) chars += JSON.stringify(tools).length;
  return Math.ceil(chars / 4) + 4 * messages.length + 85 * images + (maxOutputTokens ?? DEFAULT_ESTIMATED_OUTPUT_TOKENS);
}
