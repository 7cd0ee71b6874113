import type { ContentPart } from './content-part.js';
import type { ToolCall } from './tool-call.js';

/** A chat message. */
export interface Message {
  /** Who speaks: instructions (`system`), the user, the model (`assistant`), or a tool result (`tool`). */
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** Plain text, or a list of parts for multi-modal input. */
  content: string | ContentPart[];
  /** Optional participant name (passed through where the provider supports it). */
  name?: string;
  /** `assistant` only: tool calls the model made in this turn. */
  toolCalls?: ToolCall[];
  /** `tool` only: the `ToolCall.id` this message answers. */
  toolCallId?: string;
  /**
   * `assistant`, last message only: continue this text instead of answering after it (the output
   * extends `content`). Only for runners whose `capabilities().continuation` is true; others refuse
   * it with `bad_request`. Used by `route()` to resume a stream on another target.
   */
  prefix?: true;
}
