import { InferenceError, type ExecuteBatch, type TokenUsage } from '@inferkit/inference-core';
import { classifyStreamError, type ClassifyContext } from '../http/classify-http-error.js';
import { malformedEvent } from '../http/malformed-event.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import type { ChunkEmitter } from '../remote-runner.js';
import type { AnthropicStreamEvent, AnthropicUsage } from './anthropic-api.js';
import { mapAnthropicFinishReason } from './map-anthropic-finish-reason.js';

/** Per content block: the tool-call ordinal it maps to, or -1 for non-tool blocks. */
interface BlockState {
  toolIndex: number;
  /** Whether any argument text was emitted (else the start block's `input` is sent at stop). */
  sawArguments: boolean;
  startInput: unknown;
}

/**
 * Decodes a Messages stream. Input usage comes from `message_start`, output usage from the
 * cumulative `message_delta`; the first non-null `stop_reason` sticks (a later delta or
 * `message_stop` never overwrites `max_tokens`/`tool_use`). Unknown events, blocks and delta
 * types (thinking signatures, citations, server tools, future additions) are skipped.
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  private readonly requestId: string;
  private readonly emit: ChunkEmitter;
  private readonly ctx: ClassifyContext;
  private readonly blocks: Map<number, BlockState>;
  private toolCount: number;
  /** Raw counts, latest value per field (message_delta counts are cumulative). */
  private readonly rawUsage: AnthropicUsage;
  private stopReason: string | undefined;
  private done: boolean;

  constructor(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext) {
    this.requestId = batch.requestId;
    this.emit = emit;
    this.ctx = ctx;
    this.blocks = new Map();
    this.toolCount = 0;
    this.rawUsage = {};
    this.stopReason = undefined;
    this.done = false;
  }

  onEvent(data: string, event: string): void {
    if (this.done) return;
    let ev: AnthropicStreamEvent;
    try {
      ev = JSON.parse(data) as AnthropicStreamEvent;
    } catch {
      throw malformedEvent(this.ctx.provider, data);
    }
    if (typeof ev !== 'object' || ev === null) throw malformedEvent(this.ctx.provider, data);
    const type = event !== 'message' ? event : ev.type;
    switch (type) {
      case 'content_block_delta':
        this.onDelta(ev);
        break;
      case 'message_start': {
        const u = ev.message?.usage;
        if (u !== undefined) mergeRawUsage(this.rawUsage, u);
        break;
      }
      case 'content_block_start':
        this.onBlockStart(ev);
        break;
      case 'content_block_stop':
        this.onBlockStop(ev);
        break;
      case 'message_delta': {
        const reason = ev.delta?.stop_reason;
        if (typeof reason === 'string' && reason !== '' && this.stopReason === undefined) this.stopReason = reason;
        if (ev.usage !== undefined) mergeRawUsage(this.rawUsage, ev.usage);
        break;
      }
      case 'message_stop':
        this.done = true;
        this.emitFinal();
        break;
      case 'error':
        throw classifyStreamError(
          {
            ...(typeof ev.error?.type === 'string' ? { type: ev.error.type } : {}),
            ...(typeof ev.error?.message === 'string' ? { message: ev.error.message } : {}),
          },
          undefined,
          this.ctx,
        );
      default:
        break;
    }
  }

  onEnd(): void {
    if (this.done) return;
    throw new InferenceError('network_error', `${this.ctx.provider}: stream ended before message_stop`, {
      provider: this.ctx.provider,
      details: { code: 'truncated_stream' },
    });
  }

  private onBlockStart(ev: AnthropicStreamEvent): void {
    const block = ev.content_block;
    const index = typeof ev.index === 'number' ? ev.index : -1;
    if (block?.type === 'tool_use') {
      const toolIndex = this.toolCount++;
      this.blocks.set(index, { toolIndex, sawArguments: false, startInput: block.input });
      this.emit({
        requestId: this.requestId,
        textDelta: '',
        toolCallDelta: {
          index: toolIndex,
          ...(typeof block.id === 'string' ? { id: block.id } : {}),
          ...(typeof block.name === 'string' ? { name: block.name } : {}),
        },
      });
    } else if (block?.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      this.emit({ requestId: this.requestId, textDelta: block.text });
    }
  }

  private onDelta(ev: AnthropicStreamEvent): void {
    const d = ev.delta;
    if (d === undefined || d === null) return;
    switch (d.type) {
      case 'text_delta':
        if (typeof d.text === 'string' && d.text !== '') this.emit({ requestId: this.requestId, textDelta: d.text });
        break;
      case 'input_json_delta': {
        const state = this.blocks.get(typeof ev.index === 'number' ? ev.index : -1);
        if (state === undefined || typeof d.partial_json !== 'string' || d.partial_json === '') break;
        state.sawArguments = true;
        this.emit({ requestId: this.requestId, textDelta: '', toolCallDelta: { index: state.toolIndex, argumentsDelta: d.partial_json } });
        break;
      }
      case 'thinking_delta':
        if (typeof d.thinking === 'string' && d.thinking !== '') {
          this.emit({ requestId: this.requestId, textDelta: '', reasoningDelta: d.thinking });
        }
        break;
      default:
        break;
    }
  }

  private onBlockStop(ev: AnthropicStreamEvent): void {
    const state = this.blocks.get(typeof ev.index === 'number' ? ev.index : -1);
    if (state === undefined || state.sawArguments) return;
    // A tool call without input deltas: its arguments are the (possibly empty) start input.
    const input = state.startInput;
    this.emit({
      requestId: this.requestId,
      textDelta: '',
      toolCallDelta: { index: state.toolIndex, argumentsDelta: JSON.stringify(input ?? {}) },
    });
  }

  private emitFinal(): void {
    const reason = this.stopReason;
    this.emit({
      requestId: this.requestId,
      textDelta: '',
      usage: mapAnthropicUsage(this.rawUsage),
      ...(reason !== undefined ? { finishReason: mapAnthropicFinishReason(reason), rawFinishReason: reason } : {}),
    });
  }
}

function mergeRawUsage(into: AnthropicUsage, u: AnthropicUsage): void {
  if (typeof u.input_tokens === 'number') into.input_tokens = u.input_tokens;
  if (typeof u.output_tokens === 'number') into.output_tokens = u.output_tokens;
  if (typeof u.cache_read_input_tokens === 'number') into.cache_read_input_tokens = u.cache_read_input_tokens;
  if (typeof u.cache_creation_input_tokens === 'number') into.cache_creation_input_tokens = u.cache_creation_input_tokens;
}

/**
 * Anthropic usage → core usage. Anthropic's `input_tokens` excludes cache reads and writes;
 * core `inputTokens` includes them, with the reads also in `cachedTokens`.
 */
export function mapAnthropicUsage(u: AnthropicUsage): TokenUsage {
  const usage: TokenUsage = {};
  const read = typeof u.cache_read_input_tokens === 'number' ? u.cache_read_input_tokens : undefined;
  const write = typeof u.cache_creation_input_tokens === 'number' ? u.cache_creation_input_tokens : 0;
  if (typeof u.input_tokens === 'number') usage.inputTokens = u.input_tokens + (read ?? 0) + write;
  if (read !== undefined) usage.cachedTokens = read;
  if (typeof u.output_tokens === 'number') usage.outputTokens = u.output_tokens;
  return usage;
}
