import { InferenceError, type ExecuteBatch, type TokenChunk, type TokenUsage } from '@inferkit/inference-core';
import { classifyStreamError, type ClassifyContext, type ProviderErrorInfo } from '../http/classify-http-error.js';
import { malformedEvent } from '../http/malformed-event.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import type { ChunkEmitter } from '../remote-runner.js';
import type { GeminiErrorObject, GeminiResponse, GeminiUsage } from './gemini-api.js';
import { GEMINI_FILTER_REASONS, mapGeminiFinishReason } from './map-gemini-finish-reason.js';

/**
 * Turns Gemini responses (a streamed chunk or a whole unary body) into chunks. Each streamed
 * event holds only new parts; `usageMetadata` is a running total, so the last one wins (never
 * summed). There is no end marker: a clean end of body after a `finishReason` completes the
 * stream. A blocked prompt or a filter finish reason becomes a `content_filtered` error.
 */
export class GeminiResponseDecoder implements StreamDecoder {
  private readonly requestId: string;
  private readonly emit: ChunkEmitter;
  private readonly ctx: ClassifyContext;
  private usage: TokenUsage | undefined;
  private finishReason: string | undefined;
  private toolCount: number;
  private done: boolean;

  constructor(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext) {
    this.requestId = batch.requestId;
    this.emit = emit;
    this.ctx = ctx;
    this.usage = undefined;
    this.finishReason = undefined;
    this.toolCount = 0;
    this.done = false;
  }

  onEvent(data: string): void {
    if (this.done) return;
    let res: GeminiResponse;
    try {
      res = JSON.parse(data) as GeminiResponse;
    } catch {
      throw malformedEvent(this.ctx.provider, data);
    }
    if (typeof res !== 'object' || res === null) throw malformedEvent(this.ctx.provider, data);
    this.onResponse(res);
  }

  /** Applies one response object (a stream chunk, or the whole unary body). */
  onResponse(res: GeminiResponse): void {
    if (res.error !== undefined && res.error !== null) {
      const status = typeof res.error.code === 'number' ? res.error.code : undefined;
      throw classifyStreamError(geminiErrorInfo(res.error), status, this.ctx);
    }
    if (res.usageMetadata !== undefined) this.usage = mapGeminiUsage(res.usageMetadata);
    const block = res.promptFeedback?.blockReason;
    if (typeof block === 'string' && block !== '') {
      throw new InferenceError('content_filtered', `${this.ctx.provider}: prompt blocked (${block})`, {
        provider: this.ctx.provider,
        details: { stage: 'input', category: block },
      });
    }
    const candidate = res.candidates?.[0];
    if (candidate === undefined) return;
    const parts = candidate.content?.parts;
    if (Array.isArray(parts)) {
      for (const part of parts) {
        if (typeof part !== 'object' || part === null) continue;
        if (part.functionCall !== undefined) {
          const index = this.toolCount++;
          const fc = part.functionCall;
          this.emit({
            requestId: this.requestId,
            textDelta: '',
            toolCallDelta: {
              index,
              // Gemini rarely sends call ids; a stable synthetic one lets tool results refer back.
              id: typeof fc.id === 'string' && fc.id !== '' ? fc.id : `${this.requestId}-call-${index}`,
              ...(typeof fc.name === 'string' ? { name: fc.name } : {}),
              argumentsDelta: JSON.stringify(fc.args ?? {}),
            },
          });
        } else if (typeof part.text === 'string' && part.text !== '') {
          if (part.thought === true) this.emit({ requestId: this.requestId, textDelta: '', reasoningDelta: part.text });
          else this.emit({ requestId: this.requestId, textDelta: part.text });
        }
      }
    }
    const reason = candidate.finishReason;
    if (typeof reason === 'string' && reason !== '' && reason !== 'FINISH_REASON_UNSPECIFIED') {
      if (GEMINI_FILTER_REASONS.has(reason)) {
        throw new InferenceError('content_filtered', `${this.ctx.provider}: output stopped by the ${reason} filter`, {
          provider: this.ctx.provider,
          details: { stage: 'output', category: reason },
        });
      }
      this.finishReason = reason;
    }
  }

  onEnd(): void {
    if (this.done) return;
    if (this.finishReason === undefined) {
      throw new InferenceError('network_error', `${this.ctx.provider}: stream ended before a finishReason`, {
        provider: this.ctx.provider,
        details: { code: 'truncated_stream' },
      });
    }
    this.done = true;
    const reason = this.finishReason;
    const chunk: TokenChunk = {
      requestId: this.requestId,
      textDelta: '',
      finishReason: mapGeminiFinishReason(reason, this.toolCount > 0),
      rawFinishReason: reason,
    };
    if (this.usage !== undefined) chunk.usage = this.usage;
    this.emit(chunk);
  }
}

/** Gemini usage → core usage; `candidatesTokenCount` excludes thoughts, core output includes them. */
export function mapGeminiUsage(u: GeminiUsage): TokenUsage {
  const usage: TokenUsage = {};
  if (typeof u.promptTokenCount === 'number') usage.inputTokens = u.promptTokenCount;
  const thoughts = typeof u.thoughtsTokenCount === 'number' ? u.thoughtsTokenCount : undefined;
  if (typeof u.candidatesTokenCount === 'number') usage.outputTokens = u.candidatesTokenCount + (thoughts ?? 0);
  else if (thoughts !== undefined) usage.outputTokens = thoughts;
  if (thoughts !== undefined) usage.reasoningTokens = thoughts;
  if (typeof u.cachedContentTokenCount === 'number') usage.cachedTokens = u.cachedContentTokenCount;
  return usage;
}

/** Reads `{code, message, status, details[]}`, including `RetryInfo.retryDelay` and `ErrorInfo.reason`. */
export function geminiErrorInfo(e: GeminiErrorObject): ProviderErrorInfo {
  const info: ProviderErrorInfo = {};
  if (typeof e.message === 'string') info.message = e.message;
  if (typeof e.status === 'string') info.type = e.status;
  if (Array.isArray(e.details)) {
    for (const d of e.details as Record<string, unknown>[]) {
      const type = typeof d?.['@type'] === 'string' ? (d['@type'] as string) : '';
      if (type.endsWith('google.rpc.RetryInfo') && typeof d.retryDelay === 'string') {
        const m = /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay.trim());
        if (m !== null) info.retryDelayMs = Number(m[1]) * 1000;
      } else if (type.endsWith('google.rpc.ErrorInfo') && typeof d.reason === 'string') {
        info.code = d.reason;
      }
    }
  }
  return info;
}
