import type { FinishReason, TokenUsage, ToolCallDelta, Tokens } from '@inferkit/inference-core';
import type {
  OpenAIChatCompletion,
  OpenAIChatCompletionChunk,
  OpenAIFinishReason,
  OpenAIToolCallDelta,
  OpenAIUsage,
} from './openai-chat-api.js';

/**
 * OpenAI's finish reason for ours. `error` has no OpenAI equivalent: the caller turns it into an
 * error response instead, so it never reaches here. A stream that ended without a finish chunk
 * ended normally, which OpenAI calls `stop`.
 */
export function toOpenAIFinishReason(reason: FinishReason | undefined): OpenAIFinishReason {
  switch (reason) {
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    default:
      return 'stop';
  }
}

/**
 * OpenAI usage from ours, or `undefined` when the runner did not report both counts: unknown
 * stays unknown, never a made-up 0.
 */
export function toOpenAIUsage(u: TokenUsage | undefined): OpenAIUsage | undefined {
  if (u === undefined || u.inputTokens === undefined || u.outputTokens === undefined) return undefined;
  const usage: OpenAIUsage = {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
  };
  if (u.cachedTokens !== undefined) usage.prompt_tokens_details = { cached_tokens: u.cachedTokens };
  if (u.reasoningTokens !== undefined) usage.completion_tokens_details = { reasoning_tokens: u.reasoningTokens };
  return usage;
}

export function toOpenAIToolCallDelta(d: ToolCallDelta): OpenAIToolCallDelta {
  const out: OpenAIToolCallDelta = { index: d.index };
  if (d.id !== undefined) out.id = d.id;
  if (d.id !== undefined || d.name !== undefined) out.type = 'function';
  const fn: { name?: string; arguments?: string } = {};
  if (d.name !== undefined) fn.name = d.name;
  if (d.argumentsDelta !== undefined) fn.arguments = d.argumentsDelta;
  // openai-node's stream accumulator reads `function.arguments` on every delta of a call.
  if (fn.arguments === undefined) fn.arguments = '';
  out.function = fn;
  return out;
}

/** The unary response body from a collected stream. */
export function toChatCompletion(id: string, created: number, model: string, tokens: Tokens): OpenAIChatCompletion {
  const calls = tokens.toolCalls;
  const message: OpenAIChatCompletion['choices'][0]['message'] = {
    role: 'assistant',
    content: calls.length > 0 && tokens.text.length === 0 ? null : tokens.text,
    refusal: null,
  };
  if (calls.length > 0) {
    message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }
  if (tokens.reasoning.length > 0) message.reasoning_content = tokens.reasoning;
  const body: OpenAIChatCompletion = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, finish_reason: toOpenAIFinishReason(tokens.finishReason), logprobs: null }],
  };
  const usage = toOpenAIUsage(tokens.usage);
  if (usage !== undefined) body.usage = usage;
  return body;
}

/** Fixed fields of every chunk of one stream, so each SSE event is one small object. */
export interface ChunkHeader {
  id: string;
  created: number;
  model: string;
}

export function chunkEvent(
  h: ChunkHeader,
  delta: OpenAIChatCompletionChunk['choices'][0]['delta'],
  finishReason: OpenAIFinishReason | null,
): string {
  const chunk: OpenAIChatCompletionChunk = {
    id: h.id,
    object: 'chat.completion.chunk',
    created: h.created,
    model: h.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

export function usageEvent(h: ChunkHeader, usage: OpenAIUsage | undefined): string {
  const chunk: OpenAIChatCompletionChunk = {
    id: h.id,
    object: 'chat.completion.chunk',
    created: h.created,
    model: h.model,
    choices: [],
    // `null` when the runner reported no usage: the client asked, and unknown is the truth.
    usage: usage ?? null,
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

export const DONE_EVENT = 'data: [DONE]\n\n';
