/**
 * OpenAI Chat Completions wire types: only the fields this package writes or reads. Partial on
 * purpose, so additions to the API (and extra fields from compatible servers) never break
 * parsing. Source: ../shared/reference/provider-wire.md §1.
 */

export type OpenAIContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

export interface OpenAIToolCallParam {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type OpenAIMessage =
  | { role: 'system' | 'developer'; content: string; name?: string }
  | { role: 'user'; content: string | OpenAIContentPart[]; name?: string }
  | { role: 'assistant'; content: string | null; name?: string; tool_calls?: OpenAIToolCallParam[] }
  | { role: 'tool'; content: string; tool_call_id: string };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  /** Not OpenAI: accepted by vLLM, llama.cpp, Together, OpenRouter. */
  top_k?: number;
  stop?: string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  tools?: { type: 'function'; function: { name: string; description?: string; parameters: Record<string, unknown>; strict?: boolean } }[];
  tool_choice?: 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };
  response_format?:
    | { type: 'text' }
    | { type: 'json_object' }
    | { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean; description?: string } };
  /** Not OpenAI: vLLM and llama.cpp server continue the final (assistant) message. */
  continue_final_message?: boolean;
  /** Not OpenAI: must be false with `continue_final_message` (vLLM defaults it to true). */
  add_generation_prompt?: boolean;
  [extra: string]: unknown;
}

export interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export interface OpenAIToolCallDelta {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChunk {
  choices?: {
    index?: number;
    delta?: {
      content?: string | null;
      refusal?: string | null;
      /** DeepSeek, vLLM and others stream reasoning here. */
      reasoning_content?: string | null;
      /** OpenRouter and Ollama use this name. */
      reasoning?: string | null;
      tool_calls?: OpenAIToolCallDelta[] | null;
    } | null;
    finish_reason?: string | null;
  }[];
  usage?: OpenAIUsage | null;
  error?: OpenAIErrorObject;
}

export interface OpenAICompletion {
  choices?: {
    message?: {
      content?: string | null;
      refusal?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: { id?: string; function?: { name?: string; arguments?: string } }[] | null;
    };
    finish_reason?: string | null;
  }[];
  usage?: OpenAIUsage | null;
  error?: OpenAIErrorObject;
}

/** `{"error": {...}}`; kept loose because compatible servers vary (vLLM puts a number in `code`). */
export interface OpenAIErrorObject {
  message?: unknown;
  type?: unknown;
  code?: unknown;
  param?: unknown;
}
