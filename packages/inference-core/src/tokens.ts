import type { FinishReason } from './finish-reason.js';
import type { TokenChunk } from './token-chunk.js';
import type { TokenUsage } from './token-usage.js';
import type { ToolCall } from './tool-call.js';

/**
 * Accumulates a stream of `TokenChunk`s into a complete response. `RunHandle.collect()` returns
 * one; you can also build one yourself with `new Tokens()` and `push(chunk)`.
 */
export class Tokens {
  /** Request id from the first chunk pushed (`''` before any). */
  requestId: string;
  /** Concatenated `textDelta`s. */
  text: string;
  /** Concatenated `reasoningDelta`s (`''` when the model exposes none). */
  reasoning: string;
  /** Merged usage; `undefined` when no chunk carried usage. */
  usage: TokenUsage | undefined;
  /** Finish reason of the final chunk; `undefined` if the stream ended without one. */
  finishReason: FinishReason | undefined;
  /** Runtime-specific finish reason string of the final chunk. */
  rawFinishReason: string | undefined;
  /**
   * Actual cost in USD, set from the last chunk that carried `costUsd` (remote runners compute it
   * from actual usage). `undefined` means unknown price, never a silent 0.
   */
  costUsd: number | undefined;
  /** Number of chunks pushed. */
  chunkCount: number;
  /** Tool calls being assembled, by delta index. Kept sparse-safe; read via `toolCalls`. */
  private readonly calls: Map<number, ToolCall>;

  constructor() {
    this.requestId = '';
    this.text = '';
    this.reasoning = '';
    this.usage = undefined;
    this.finishReason = undefined;
    this.rawFinishReason = undefined;
    this.costUsd = undefined;
    this.chunkCount = 0;
    this.calls = new Map();
  }

  /** Tool calls assembled from `toolCallDelta`s, ordered by index. */
  get toolCalls(): ToolCall[] {
    if (this.calls.size === 0) return [];
    return [...this.calls.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }

  /** Adds one chunk. */
  push(chunk: TokenChunk): this {
    if (this.chunkCount === 0) this.requestId = chunk.requestId;
    this.chunkCount++;
    this.text += chunk.textDelta;
    if (chunk.reasoningDelta !== undefined) this.reasoning += chunk.reasoningDelta;
    const d = chunk.toolCallDelta;
    if (d !== undefined) {
      let call = this.calls.get(d.index);
      if (call === undefined) {
        call = { id: '', name: '', arguments: '' };
        this.calls.set(d.index, call);
      }
      if (d.id !== undefined) call.id = d.id;
      if (d.name !== undefined) call.name = d.name;
      if (d.argumentsDelta !== undefined) call.arguments += d.argumentsDelta;
    }
    const u = chunk.usage;
    if (u !== undefined) {
      const acc = this.usage ?? (this.usage = {});
      if (u.inputTokens !== undefined) acc.inputTokens = u.inputTokens;
      if (u.outputTokens !== undefined) acc.outputTokens = u.outputTokens;
      if (u.reasoningTokens !== undefined) acc.reasoningTokens = u.reasoningTokens;
      if (u.cachedTokens !== undefined) acc.cachedTokens = u.cachedTokens;
    }
    if (chunk.finishReason !== undefined) this.finishReason = chunk.finishReason;
    if (chunk.rawFinishReason !== undefined) this.rawFinishReason = chunk.rawFinishReason;
    if (chunk.costUsd !== undefined) this.costUsd = chunk.costUsd;
    return this;
  }

  /** Builds a `Tokens` from a list of chunks. */
  static from(chunks: Iterable<TokenChunk>): Tokens {
    const t = new Tokens();
    for (const c of chunks) t.push(c);
    return t;
  }
}
