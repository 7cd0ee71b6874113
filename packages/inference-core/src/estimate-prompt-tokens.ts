import type { Message } from './message.js';
import type { ToolDefinition } from './tool-definition.js';

/** Tokens counted per image part: OpenAI's low-detail price, a fair middle for other providers. */
export const ESTIMATED_TOKENS_PER_IMAGE = 85;
/** Tokens counted per message for the role markers a chat template wraps around it. */
export const ESTIMATED_TOKENS_PER_MESSAGE = 4;

/**
 * A tokenizer-free estimate of a prompt's size, for rate limits, budgets and routing before a
 * request is sent: about four characters per token of text (message text, tool-call names and
 * arguments, the tools' JSON), `ESTIMATED_TOKENS_PER_IMAGE` per image and
 * `ESTIMATED_TOKENS_PER_MESSAGE` per message. It never tokenizes, so it costs O(characters) and
 * is safe on the event loop; runners that know the exact count report it in `usage`.
 */
export function estimatePromptTokens(messages: readonly Message[], tools?: readonly ToolDefinition[]): number {
  let chars = 0;
  let images = 0;
  for (const m of messages) {
    const content = m.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (const p of content) {
        if (p?.type === 'text') chars += typeof p.text === 'string' ? p.text.length : 0;
        else images++;
      }
    }
    if (m.toolCalls !== undefined) for (const c of m.toolCalls) chars += (c.name?.length ?? 0) + (c.arguments?.length ?? 0);
  }
  if (tools !== undefined && tools.length > 0) chars += jsonLength(tools);
  return Math.ceil(chars / 4) + ESTIMATED_TOKENS_PER_MESSAGE * messages.length + ESTIMATED_TOKENS_PER_IMAGE * images;
}

function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0; // cyclic or otherwise unserializable: the runner refuses it later with bad_request
  }
}
