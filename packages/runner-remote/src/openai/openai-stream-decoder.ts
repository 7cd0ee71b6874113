import { InferenceError, type ExecuteBatch, type FinishReason, type TokenUsage } from '@inferkit/inference-core';
import { classifyStreamError, type ClassifyContext } from '../http/classify-http-error.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import { malformedEvent as malformed } from '../http/malformed-event.js';
import type { ChunkEmitter } from '../remote-runner.js';
import type { OpenAIChunk, OpenAIErrorObject, OpenAIUsage } from './openai-api.js';
import { mapOpenAIFinishReason } from './map-openai-finish-reason.js';

/**
 * Decodes a Chat Completions stream. The finish reason arrives one chunk before the usage-only
 * chunk (`include_usage`), so it is held back and sent with the usage as the single final
 * chunk, at `[DONE]` (or at a clean end of body for servers that omit `[DONE]`).
 */
export class OpenAIStreamDecoder implements StreamDecoder {
  private readonly requestId: string;
  private readonly emit: ChunkEmitter;
  private readonly ctx: ClassifyContext;
  private finishReason: FinishReason | undefined;
  private rawFinishReason: string | undefined;
  private usage: TokenUsage | undefined;
  private done: boolean;

  constructor(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext) {
    this.requestId = batch.requestId;
    this.emit = emit;
    this.ctx = ctx;
    this.finishReason = undefined;
    this.rawFinishReason = undefined;
    this.usage = undefined;
    this.done = false;
  }

  onEvent(data: string, event: string): void {
    if (this.done) return;
    if (data === '[DONE]') {
      this.done = true;
      this.emitFinal();
      return;
    }
    let chunk: OpenAIChunk;
    try {
      chunk = JSON.parse(data) as OpenAIChunk;
    } catch {
      throw malformed(this.ctx.provider, data);
    }
    if (typeof chunk !== 'object' || chunk === null) throw malformed(this.ctx.provider, data);
    if (chunk.error !== undefined && chunk.error !== null) throw openAIStreamError(chunk.error, this.ctx);
    if (event === 'error') throw openAIStreamError(chunk as OpenAIErrorObject, this.ctx);
    const usage = chunk.usage;
    if (usage !== undefined && usage !== null) this.usage = mapOpenAIUsage(usage);
    const choice = chunk.choices?.[0];
    if (choice === undefined) return;
    const delta = choice.delta;
    if (delta !== undefined && delta !== null) {
      const content = delta.content;
      if (typeof content === 'string' && content !== '') this.emit({ requestId: this.requestId, textDelta: content });
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') {
        this.emit({ requestId: this.requestId, textDelta: '', reasoningDelta: reasoning });
      }
      const refusal = delta.refusal;
      if (typeof refusal === 'string' && refusal !== '') this.emit({ requestId: this.requestId, textDelta: refusal });
      const calls = delta.tool_calls;
      if (Array.isArray(calls)) {
        for (const call of calls) {
          const fn = call.function;
          const index = typeof call.index === 'number' ? call.index : 0;
          const toolCallDelta: { index: number; id?: string; name?: string; argumentsDelta?: string } = { index };
          if (typeof call.id === 'string' && call.id !== '') toolCallDelta.id = call.id;
          if (typeof fn?.name === 'string' && fn.name !== '') toolCallDelta.name = fn.name;
          if (typeof fn?.arguments === 'string' && fn.arguments !== '') toolCallDelta.argumentsDelta = fn.arguments;
          this.emit({ requestId: this.requestId, textDelta: '', toolCallDelta });
        }
      }
    }
    const reason = choice.finish_reason;
    if (typeof reason === 'string' && reason !== '') {
      this.rawFinishReason = reason;
      this.finishReason = mapOpenAIFinishReason(reason);
    }
  }

  onEnd(): void {
    if (this.done) return;
    if (this.finishReason === undefined) {
      throw new InferenceError('network_error', `${this.ctx.provider}: stream ended before completion`, {
        provider: this.ctx.provider,
        details: { code: 'truncated_stream' },
      });
    }
    // Some compatible servers end the body after the finish chunk without `[DONE]`.
    this.done = true;
    this.emitFinal();
  }

  private emitFinal(): void {
    if (this.finishReason === undefined && this.usage === undefined) return;
    this.emit({
      requestId: this.requestId,
      textDelta: '',
      ...(this.usage !== undefined ? { usage: this.usage } : {}),
      ...(this.finishReason !== undefined ? { finishReason: this.finishReason, rawFinishReason: this.rawFinishReason! } : {}),
    });
  }
}

export function mapOpenAIUsage(u: OpenAIUsage): TokenUsage {
  const usage: TokenUsage = {};
  if (typeof u.prompt_tokens === 'number') usage.inputTokens = u.prompt_tokens;
  if (typeof u.completion_tokens === 'number') usage.outputTokens = u.completion_tokens;
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') usage.cachedTokens = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') usage.reasoningTokens = reasoning;
  return usage;
}

export function openAIStreamError(error: OpenAIErrorObject, ctx: ClassifyContext): InferenceError {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  // vLLM and some proxies put the HTTP status in `code`.
  const status = typeof error.code === 'number' ? error.code : undefined;
  return classifyStreamError(
    {
      ...(str(error.message) !== undefined ? { message: str(error.message)! } : {}),
      ...(str(error.type) !== undefined ? { type: str(error.type)! } : {}),
      ...(str(error.code) !== undefined ? { code: str(error.code)! } : {}),
      ...(str(error.param) !== undefined ? { param: str(error.param)! } : {}),
    },
    status,
    ctx,
  );
}
