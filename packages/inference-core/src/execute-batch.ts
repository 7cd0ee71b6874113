import type { Message } from './message.js';
import type { ResponseFormat } from './response-format.js';
import type { SamplingParams } from './sampling-params.js';
import type { ToolChoice } from './tool-choice.js';
import type { ToolDefinition } from './tool-definition.js';

/** One inference request, as handed to `ModelRunner.execute`. */
export interface ExecuteBatch {
  /** Caller-chosen id, echoed on every `TokenChunk` and in errors and events. */
  requestId: string;
  /** Model name as the runner knows it (provider model id, or local model name). */
  model: string;
  /** The conversation so far. */
  messages: Message[];
  /** Sampling settings (all fields optional; absent = the runtime's defaults). */
  sampling?: SamplingParams;
  /**
   * Whether the caller wants incremental output. Output always arrives as a `RunHandle` stream;
   * with `false` a runner may use a unary upstream call and emit a single chunk.
   */
  stream: boolean;
  /**
   * Estimated total tokens (prompt + expected output), used for rate limiting and budgets
   * (`estimatePromptTokens` gives the prompt part without a tokenizer).
   */
  estimatedTokens: number;
  /** Tools the model may call. */
  tools?: ToolDefinition[];
  /** Whether and which tool the model must call. */
  toolChoice?: ToolChoice;
  /** Requested output format (e.g. JSON schema). */
  responseFormat?: ResponseFormat;
  /**
   * With a final `prefix: true` assistant message: the token ids of that message's content, as
   * the runner streamed them (`TokenChunk.tokenIds`), so a local engine continues exactly instead
   * of re-tokenizing the text. Only for runners whose `capabilities().tokenIds` is true.
   */
  continuationTokenIds?: number[];
}
