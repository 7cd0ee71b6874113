import { InferenceError, RunnerOptions, type ExecuteBatch, type RunnerCapabilities, type TokenChunk } from '@inferkit/inference-core';
import type { ClassifyContext, ProviderErrorInfo } from '../http/classify-http-error.js';
import type { Secret } from '../http/credentials.js';
import type { HttpRequest } from '../http/http-transport.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import { ANTHROPIC_PRICES } from '../pricing/pricing-table.js';
import { readRemoteRunnerOptions, REMOTE_RUNNER_OPTION_KEYS } from '../read-remote-runner-options.js';
import { RemoteRunner, type ChunkEmitter, type ProviderWire, type RemoteRunnerOptions } from '../remote-runner.js';
import type { AnthropicRequest, AnthropicResponse } from './anthropic-api.js';
import { AnthropicStreamDecoder, mapAnthropicUsage } from './anthropic-stream-decoder.js';
import { convertToAnthropicMessages, splitPrefill } from './convert-to-anthropic-messages.js';
import { dropLeadingText } from './drop-leading-text.js';
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

/**
 * What the Messages API honours: tools, images, and continuation (a final assistant message is a
 * prefill the model continues). No response formats (use a tool with the schema) and no
 * penalties (zero penalties, which OpenAI clients send by default, are dropped: they change nothing).
 */
export const ANTHROPIC_CAPABILITIES: Readonly<RunnerCapabilities> = Object.freeze({ tools: true, images: true, continuation: true });

/** Option keys of `createAnthropicRunner` beyond the shared ones. */
export const ANTHROPIC_OPTION_KEYS = ['defaultMaxTokens', 'betas', 'authScheme', 'extraBody'] as const;

export class AnthropicWire implements ProviderWire {
  readonly label = 'anthropic';
  readonly runtime = 'anthropic' as const;
  readonly provider = 'anthropic' as const;
  private readonly path: string;
  private readonly options: AnthropicRunnerOptions;
  private readonly defaultMaxTokens: number;

  constructor(basePath: string, options: AnthropicRunnerOptions) {
    const max = options.defaultMaxTokens ?? 4096;
    if (!Number.isInteger(max) || max <= 0) {
      throw new InferenceError('bad_request', 'anthropic: defaultMaxTokens must be a positive integer', { details: { param: 'defaultMaxTokens' } });
    }
    this.path = `${basePath}/messages`;
    this.options = options;
    this.defaultMaxTokens = max;
  }

  buildRequest(batch: ExecuteBatch, secret: Secret | undefined): HttpRequest {
    const bad = (msg: string, param: string) =>
      new InferenceError('bad_request', `anthropic: ${msg}`, { details: { param }, requestId: batch.requestId });
    const s = batch.sampling ?? {};
    // Non-zero penalties and non-text response formats never get here (validateBatch refuses
    // what ANTHROPIC_CAPABILITIES does not declare).
    if (s.seed !== undefined) throw bad('seed is not supported by the Messages API', 'sampling.seed');
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
    return new AnthropicStreamDecoder(batch, dropLeadingText(heldWhitespace(batch), emit), ctx);
  }

  decodeUnary(json: unknown, batch: ExecuteBatch, output: ChunkEmitter): void {
    const emit = dropLeadingText(heldWhitespace(batch), output);
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

/** The trailing whitespace of a continuation's prefill, which the request could not carry. */
function heldWhitespace(batch: ExecuteBatch): string {
  const last = batch.messages[batch.messages.length - 1];
  if (last?.prefix !== true) return '';
  const content = last.content;
  const text = typeof content === 'string' ? content : content.map((p) => (p.type === 'text' ? p.text : '')).join('');
  return splitPrefill(text).held;
}

/**
 * A runner for Anthropic's Messages API.
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createAnthropicRunner(options?: AnthropicRunnerOptions): RemoteRunner {
  const raw = new RunnerOptions(options, 'anthropic', [...REMOTE_RUNNER_OPTION_KEYS, ...ANTHROPIC_OPTION_KEYS]);
  const o: AnthropicRunnerOptions = readRemoteRunnerOptions(raw);
  const defaultMaxTokens = raw.integer('defaultMaxTokens', { min: 1 });
  if (defaultMaxTokens !== undefined) o.defaultMaxTokens = defaultMaxTokens;
  const betas = raw.stringArray('betas');
  if (betas !== undefined) o.betas = betas;
  const authScheme = raw.oneOf('authScheme', ['x-api-key', 'bearer'] as const);
  if (authScheme !== undefined) o.authScheme = authScheme;
  const extraBody = raw.object('extraBody');
  if (extraBody !== undefined) o.extraBody = extraBody;
  const baseUrl = o.baseUrl ?? ANTHROPIC_BASE_URL;
  let basePath: string;
  try {
    basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `anthropic: baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`, { details: { param: 'baseUrl' } });
  }
  const apiKey = o.apiKey ?? { from: 'env' as const, name: 'ANTHROPIC_API_KEY' };
  return new RemoteRunner({
    wire: new AnthropicWire(basePath, o),
    baseUrl,
    options: { ...o, apiKey },
    defaultPrices: ANTHROPIC_PRICES,
    credentialRequired: true,
    capabilities: ANTHROPIC_CAPABILITIES,
  });
}
