import type { FinishReason } from '@inferkit/inference-core';

/**
 * OpenAI `finish_reason` → unified reason. Values outside the documented set (vLLM's `abort`,
 * a future addition) map to `'error'`: the stream did not end in a way callers can rely on;
 * the raw string stays on `rawFinishReason`.
 */
export function mapOpenAIFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'error';
  }
}
