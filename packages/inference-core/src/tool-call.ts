/**
 * A complete tool call requested by the model, as assembled by `Tokens` from `ToolCallDelta`s,
 * or as sent back in an assistant `Message` of a later turn.
 */
export interface ToolCall {
  /** Provider-assigned call id; the `tool` message answering it carries it as `toolCallId`. */
  id: string;
  /** Name of the tool to call (a `ToolDefinition.name`). */
  name: string;
  /** Arguments as raw JSON text, exactly as the model produced it (may be invalid JSON). */
  arguments: string;
}
