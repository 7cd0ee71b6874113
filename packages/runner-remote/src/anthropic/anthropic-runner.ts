import { InferenceError, type ExecuteBatch, type TokenChunk } from '@inferkit/inference-core';
import type { ClassifyContext, ProviderErrorInfo } from '../http/classify-http-error.js';
import type { Secret } from '../http/credentials.js';
import type { HttpRequest } from '../http/http-transport.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import { ANTHROPIC_PRICES } from '../pricing/pricing-table.js';
import { RemoteRunner, type ChunkEmitter, type ProviderWire, type RemoteRunnerOptions } from '../remote-runner.js';
import type { AnthropicRequest, AnthropicResponse } from './anthropic-api.js';
import { AnthropicStreamDecoder, mapAnthropicUsage } from './anthropic-stream-decoder.js';
import { convertToAnthropicMessages } from './convert-to-anthropic-messages.js';
import { mapAnthropicFinishReason } from './map-anthropic-finish-reason.js';

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com/v1';
export const ANTHROPIC_VERSION = '2023-06-01';

export interface AnthropicRunnerOptions extends RemoteRunnerOptions {
  /**
   * `max_tokens` when `sampling.maxTokens` is unset: the API requires one. Default 4096.
   */
  defaultMaxTokens?: number;
  /** Sent as `anthropic-beta` (comma-joined). */
  betas?: string[];
  /** `x-api-key` (default) or `Authorization: Bearer` for OAuth tokens. */
  authScheme?: 'x-api-key' | 'bearer';
  /** Extra body fields (`thinking`, `metadata`, `service_tier`, ...); never override fields this runner sets. */
  extraBody?: Record<string, unknown>;
}

const KEYS_WE_SET = new Set(['model', 'max_tokens', 'messages', 'system', 'stream', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'tools', 'tool_choice']);

export class AnthropicWire implements ProviderWire {
  readonly label = 'anthropic';
  readonly runtime = 'anthropic' as const;
  readonly provider = 'anthropic' as const;
  private readonly path: string;
  private readonly options: AnthropicRunnerOptions;
  private readonly defaultMaxTokens: number;

  constructor(basePath: string, options: AnthropicRunnerOptions) {
    const max = options.defaultMaxTokens ?? 4096;
    if (!Number.isInteger(max) || max <= 0) throw new RangeError('defaultMaxTokens must be a positive integer');
    this.path = `${basePath}/messages`;
    this.options = options;
    this.defaultMaxTokens = max;
  }

  buildRequest(batch: ExecuteBatch, secret: Secret | undefined): HttpRequest {
    const bad = (msg: string, param: string) =>
      new InferenceError('bad_request', `anthropic: ${msg}`, { details: { param }, requestId: batch.requestId });
    const s = batch.sampling ?? {};
    if (s.presencePenalty !== undefined) throw bad('presencePenalty is not supported by the Messages API', 'presencePenalty');
    if (s.frequencyPenalty !== undefined) throw bad('frequencyPenalty is not supported by the Messages API', 'frequencyPenalty');
    if (s.seed !== undefined) throw bad('seed is not supported by the Messages API', 'seed');
    const format = batch.responseFormat;
    if (format !== undefined && format.type !== 'text') {
      throw bad(`responseFormat ${format.type} is not supported by the Messages API (use a tool with the schema instead)`, 'responseFormat');
    }
    const prompt = convertToAnthropicMessages(batch.messages, 'anthropic');
    const body: AnthropicRequest = { model: batch.model, max_tokens: s.maxTokens ?? this.defaultMaxTokens, messages: prompt.messages };
    if (prompt.system.length > 0) body.system = prompt.system;
    if (batch.stream) body.stream = true;
    if (s.temperature !== undefined) body.temperature = s.temperature;
    if (s.topP !== undefined) body.top_p = s.topP;
    if (s.topK !== undefined) body.top_k = s.topK;
    if (s.stop !== undefined && s.stop.length > 0) body.stop_sequences = s.stop;
    if (batch.tools !== undefined && batch.tools.length > 0) {
      body.tools = batch.tools.map((t) => ({
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        input_schema: t.parameters,
      }));
    }
    const choice = batch.toolChoice;
    if (choice !== undefined) {
      body.tool_choice =
        choice === 'auto' ? { type: 'auto' } : choice === 'required' ? { type: 'any' } : choice === 'none' ? { type: 'none' } : { type: 'tool', name: choice.name };
    }
    if (this.options.extraBody !== undefined) {
      for (const [k, v] of Object.entries(this.options.extraBody)) if (!KEYS_WE_SET.has(k)) body[k] = v;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: batch.stream ? 'text/event-stream' : 'application/json',
      'anthropic-version': ANTHROPIC_VERSION,
    };
    if (this.options.betas !== undefined && this.options.betas.length > 0) headers['anthropic-beta'] = this.options.betas.join(',');
    if (secret !== undefined) {
      if (this.options.authScheme === 'bearer') headers.authorization = `Bearer ${secret.reveal()}`;
      else headers['x-api-key'] = secret.reveal();
    }
    return { method: 'POST', path: this.path, headers, body: JSON.stringify(body) };
  }

  createDecoder(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): StreamDecoder {
    return new AnthropicStreamDecoder(batch, emit, ctx);
  }

  decodeUnary(json: unknown, batch: ExecuteBatch, emit: ChunkEmitter): void {
    const res = json as AnthropicResponse;
    if (typeof res !== 'object' || res === null || !Array.isArray(res.content)) {
      throw new InferenceError('server_error', 'anthropic: unexpected response: no content array', {
        provider: 'anthropic',
        retryable: false,
        details: { code: 'malformed_response' },
      });
    }
    const first: TokenChunk = { requestId: batch.requestId, textDelta: '' };
    const chunks: TokenChunk[] = [first];
    let reasoning = '';
    let toolIndex = 0;
    for (const block of res.content) {
      if (block?.type === 'text' && typeof block.text === 'string') first.textDelta += block.text;
      else if (block?.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
      else if (block?.type === 'tool_use') {
        const delta = {
          index: toolIndex,
          ...(typeof block.id === 'string' ? { id: block.id } : {}),
          ...(typeof block.name === 'string' ? { name: block.name } : {}),
          argumentsDelta: JSON.stringify(block.input ?? {}),
        };
        if (toolIndex === 0) first.toolCallDelta = delta;
        else chunks.push({ requestId: batch.requestId, textDelta: '', toolCallDelta: delta });
        toolIndex++;
      }
    }
    if (reasoning !== '') first.reasoningDelta = reasoning;
    const last = chunks[chunks.length - 1]!;
    if (res.usage !== undefined) last.usage = mapAnthropicUsage(res.usage);
    if (typeof res.stop_reason === 'string') {
      last.finishReason = mapAnthropicFinishReason(res.stop_reason);
      last.rawFinishReason = res.stop_reason;
    }
    for (const c of chunks) emit(c);
  }

  parseError(bodyText: string): ProviderErrorInfo {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return {};
    }
    const e = (body as { error?: { type?: unknown; message?: unknown } } | null)?.error;
    if (typeof e !== 'object' || e === null) return {};
    return {
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
      ...(typeof e.message === 'string' ? { message: e.message } : {}),
    };
  }
}

/** A runner for Anthropic's Messages API. */
export function createAnthropicRunner(options: AnthropicRunnerOptions = {}): RemoteRunner {
  const baseUrl = options.baseUrl ?? ANTHROPIC_BASE_URL;
  let basePath: string;
  try {
    basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `anthropic: baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`);
  }
  const apiKey = options.apiKey ?? { from: 'env' as const, name: 'ANTHROPIC_API_KEY' };
  return new RemoteRunner({
    wire: new AnthropicWire(basePath, options),
    baseUrl,
    options: { ...options, apiKey },
    defaultPrices: ANTHROPIC_PRICES,
    credentialRequired: true,
  });
}
