import type { FinishReason } from './finish-reason.js';
import type { TokenUsage } from './token-usage.js';
import type { ToolCallDelta } from './tool-call-delta.js';

/**
 * One streamed piece of output. A stream ends with at most one chunk carrying `finishReason`;
 * nothing follows it.
 */
export interface TokenChunk {
  /** The `ExecuteBatch.requestId` this chunk belongs to. */
  requestId: string;
  /** New output text (may be `''`, e.g. on usage-only or finish chunks). */
  textDelta: string;
  /** New hidden/visible reasoning text, for models that expose it. */
  reasoningDelta?: string;
  /** A piece of a tool call. */
  toolCallDelta?: ToolCallDelta;
  /** Token counts known so far (see `TokenUsage` on merging). */
  usage?: TokenUsage;
  /** Set on the final chunk only. */
  finishReason?: FinishReason;
  /**
   * Token ids of this chunk's text, where the runner knows them (`capabilities().tokenIds`). A
   * continuation may hand them back as `ExecuteBatch.continuationTokenIds` to resume exactly.
   */
  tokenIds?: number[];
  /** The runtime's own finish reason string, before unification (e.g. `'end_turn'`). */
  rawFinishReason?: string;
  /**
   * Actual cost of the request in USD, computed by the runner from actual usage; usually on the
   * final chunk. `undefined` means unknown price, never a silent 0.
   */
  costUsd?: number;
}
