/**
 * The OpenAI chat completions wire shapes the gateway writes. Only the fields it produces are
 * typed; requests are read field by field in `parse-chat-request.ts`.
 */

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
}

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAIToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface OpenAIChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: OpenAIToolCall[]; reasoning_content?: string };
    finish_reason: OpenAIFinishReason;
    logprobs: null;
  }>;
  usage?: OpenAIUsage;
}

export interface OpenAIChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: OpenAIToolCallDelta[]; reasoning_content?: string };
    finish_reason: OpenAIFinishReason | null;
    logprobs?: null;
  }>;
  usage?: OpenAIUsage | null;
}
