/**
 * A piece of a streamed tool call. Deltas with the same `index` belong to the same call; `Tokens`
 * assembles them into `ToolCall`s.
 */
export interface ToolCallDelta {
  /** Position of the call within this response (0-based); groups the deltas of one call. */
  index: number;
  /** Call id, usually on the first delta of a call; later values replace earlier ones. */
  id?: string;
  /** Tool name, whole (not split across deltas), usually on the first delta of a call. */
  name?: string;
  /** Next piece of the arguments' JSON text; appended in order. */
  argumentsDelta?: string;
}
