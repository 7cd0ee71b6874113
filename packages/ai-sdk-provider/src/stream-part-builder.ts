import { InvalidResponseDataError, type JSONObject, type LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { FinishReason, TokenChunk, TokenUsage } from '@inferkit/inference-core';
import { convertInferkitUsage } from './convert-inferkit-usage.js';
import { mapInferkitFinishReason } from './map-inferkit-finish-reason.js';

/** A tool call being assembled from `ToolCallDelta`s. */
interface ToolCallState {
  index: number;
  /** Fixed once `tool-input-start` went out; until then a later delta may still set it. */
  id: string | undefined;
  name: string | undefined;
  /** Argument text received so far. */
  input: string;
  /** Whether `tool-input-start` went out. */
  started: boolean;
}

/**
 * Turns a runner's `TokenChunk` stream into AI SDK stream parts, in order: text and reasoning as
 * `*-start` / `*-delta` / `*-end` blocks (a switch between the two closes one block and opens the
 * next, so interleaved output keeps its order), tool calls as `tool-input-start` / `-delta` as the
 * deltas arrive and `tool-input-end` + `tool-call` once the response is complete (arguments of a
 * call may arrive until the last chunk), then one `finish` with the merged usage. `doStream`
 * enqueues the parts; `doGenerate` collects them, so both paths assemble output the same way.
 */
export class StreamPartBuilder {
  /** Whether `finish` went out; nothing is emitted after it. */
  finished: boolean;
  private readonly emit: (part: LanguageModelV3StreamPart) => void;
  private readonly requestId: string;
  private readonly providerKey: string;
  private openType: 'text' | 'reasoning' | null;
  private openId: string;
  private blocks: number;
  private readonly calls: Map<number, ToolCallState>;
  private usage: TokenUsage | undefined;
  private costUsd: number | undefined;

  constructor(emit: (part: LanguageModelV3StreamPart) => void, requestId: string, providerKey: string) {
    this.finished = false;
    this.emit = emit;
    this.requestId = requestId;
    this.providerKey = providerKey;
    this.openType = null;
    this.openId = '';
    this.blocks = 0;
    this.calls = new Map();
    this.usage = undefined;
    this.costUsd = undefined;
  }

  /**
   * Adds one chunk; a chunk with `finishReason` also finishes. Throws `InvalidResponseDataError`
   * for a chunk that breaks the `TokenChunk` contract.
   */
  push(chunk: TokenChunk): void {
    if (this.finished) return; // the contract: nothing follows the finish chunk
    if (typeof chunk !== 'object' || chunk === null) throw malformed(chunk, 'a chunk is not an object');
    const reasoning = chunk.reasoningDelta;
    if (reasoning !== undefined) {
      if (typeof reasoning !== 'string') throw malformed(chunk, 'reasoningDelta is not a string');
      if (reasoning !== '') this.delta('reasoning', reasoning);
    }
    const text = chunk.textDelta;
    if (typeof text !== 'string') throw malformed(chunk, 'textDelta is not a string');
    if (text !== '') this.delta('text', text);
    if (chunk.toolCallDelta !== undefined) this.toolCallDelta(chunk);
    const u = chunk.usage;
    if (u !== undefined) {
      if (typeof u !== 'object' || u === null) throw malformed(chunk, 'usage is not an object');
      const acc = this.usage ?? (this.usage = {});
      if (u.inputTokens !== undefined) acc.inputTokens = u.inputTokens;
      if (u.outputTokens !== undefined) acc.outputTokens = u.outputTokens;
      if (u.reasoningTokens !== undefined) acc.reasoningTokens = u.reasoningTokens;
      if (u.cachedTokens !== undefined) acc.cachedTokens = u.cachedTokens;
    }
    if (chunk.costUsd !== undefined) this.costUsd = chunk.costUsd;
    if (chunk.finishReason !== undefined) this.finish(chunk.finishReason, chunk.rawFinishReason);
  }

  /**
   * Closes open blocks, completes the tool calls and emits `finish` (once). `reason` is
   * `undefined` when the stream ended without a finish chunk (`other`).
   */
  finish(reason: FinishReason | undefined, raw: string | undefined): void {
    if (this.finished) return;
    this.close();
    const calls = [...this.calls.values()].sort((a, b) => a.index - b.index);
    for (const call of calls) {
      if (call.name === undefined) {
        this.emit({
          type: 'error',
          error: new InvalidResponseDataError({
            data: { index: call.index, id: call.id },
            message: `the runner streamed tool call ${call.index} without a tool name`,
          }),
        });
        continue;
      }
      const id = this.start(call);
      this.emit({ type: 'tool-input-end', id });
      this.emit({ type: 'tool-call', toolCallId: id, toolName: call.name, input: call.input === '' ? '{}' : call.input });
    }
    this.finished = true;
    const metadata: JSONObject = { requestId: this.requestId };
    if (this.costUsd !== undefined) metadata.costUsd = this.costUsd;
    this.emit({
      type: 'finish',
      usage: convertInferkitUsage(this.usage),
      finishReason: mapInferkitFinishReason(reason, raw),
      providerMetadata: { [this.providerKey]: metadata },
    });
  }

  /** Emits `error`, then finishes with `error` (keeping the output and usage received so far). */
  fail(error: unknown): void {
    if (this.finished) return;
    this.emit({ type: 'error', error });
    this.finish('error', undefined);
  }

  private delta(type: 'text' | 'reasoning', delta: string): void {
    if (this.openType !== type) {
      this.close();
      this.openType = type;
      this.openId = `${type}-${this.blocks++}`;
      this.emit(type === 'text' ? { type: 'text-start', id: this.openId } : { type: 'reasoning-start', id: this.openId });
    }
    this.emit(type === 'text' ? { type: 'text-delta', id: this.openId, delta } : { type: 'reasoning-delta', id: this.openId, delta });
  }

  private close(): void {
    if (this.openType === 'text') this.emit({ type: 'text-end', id: this.openId });
    else if (this.openType === 'reasoning') this.emit({ type: 'reasoning-end', id: this.openId });
    this.openType = null;
  }

  private toolCallDelta(chunk: TokenChunk): void {
    const d = chunk.toolCallDelta!;
    if (typeof d !== 'object' || d === null) throw malformed(chunk, 'toolCallDelta is not an object');
    if (!Number.isInteger(d.index) || d.index < 0) throw malformed(chunk, 'toolCallDelta.index is not an integer >= 0');
    if (d.id !== undefined && typeof d.id !== 'string') throw malformed(chunk, 'toolCallDelta.id is not a string');
    if (d.name !== undefined && typeof d.name !== 'string') throw malformed(chunk, 'toolCallDelta.name is not a string');
    if (d.argumentsDelta !== undefined && typeof d.argumentsDelta !== 'string') throw malformed(chunk, 'toolCallDelta.argumentsDelta is not a string');
    let call = this.calls.get(d.index);
    if (call === undefined) {
      call = { index: d.index, id: undefined, name: undefined, input: '', started: false };
      this.calls.set(d.index, call);
    }
    if (!call.started) {
      if (d.id !== undefined && d.id !== '') call.id = d.id;
      if (d.name !== undefined && d.name !== '') call.name = d.name;
    }
    const args = d.argumentsDelta ?? '';
    call.input += args;
    if (call.started) {
      if (args !== '') this.emit({ type: 'tool-input-delta', id: call.id!, delta: args });
    } else if (call.name !== undefined) {
      // The input received before the name goes out with the start.
      this.start(call);
    }
  }

  /** Emits `tool-input-start` (and the input buffered so far) once; returns the call's id. */
  private start(call: ToolCallState): string {
    if (!call.started) {
      call.started = true;
      call.id ??= `${this.requestId}-call-${call.index}`;
      this.emit({ type: 'tool-input-start', id: call.id, toolName: call.name! });
      if (call.input !== '') this.emit({ type: 'tool-input-delta', id: call.id, delta: call.input });
    }
    return call.id!;
  }
}

function malformed(chunk: unknown, message: string): InvalidResponseDataError {
  return new InvalidResponseDataError({ data: chunk, message: `the runner broke the TokenChunk contract: ${message}` });
}
