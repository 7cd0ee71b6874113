import {
  InferenceError,
  RunnerOptions,
  type ExecuteBatch,
  type ProviderKind,
  type RunnerCapabilities,
  type RuntimeKind,
  type TokenChunk,
} from '@inferkit/inference-core';
import type { ClassifyContext, ProviderErrorInfo } from '../http/classify-http-error.js';
import type { Secret } from '../http/credentials.js';
import type { HttpRequest } from '../http/http-transport.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import { OPENAI_PRICES } from '../pricing/pricing-table.js';
import type { PriceTable } from '../pricing/model-price.js';
import { readRemoteRunnerOptions, REMOTE_RUNNER_OPTION_KEYS } from '../read-remote-runner-options.js';
import { RemoteRunner, type ChunkEmitter, type ProviderWire, type RemoteRunnerOptions } from '../remote-runner.js';
import { convertToOpenAIMessages } from './convert-to-openai-messages.js';
import type { OpenAIChatRequest, OpenAICompletion } from './openai-api.js';
import { mapOpenAIFinishReason } from './map-openai-finish-reason.js';
import { mapOpenAIUsage, openAIStreamError, OpenAIStreamDecoder } from './openai-stream-decoder.js';

/** Which request field carries `sampling.maxTokens`. */
export type TokenLimitField = 'max_tokens' | 'max_completion_tokens' | 'auto';

export interface OpenAIRunnerOptions extends RemoteRunnerOptions {
  /** Sent as `OpenAI-Organization`. */
  organization?: string;
  /** Sent as `OpenAI-Project`. */
  project?: string;
  /**
   * Extra body fields for vendor parameters (`reasoning_effort`, `service_tier`, ...). They
   * never override fields this runner sets; `n` other than 1 is rejected (one stream per call).
   */
  extraBody?: Record<string, unknown>;
  /**
   * `auto` (default for OpenAI and Azure) sends `max_completion_tokens` to the reasoning
   * models that reject `max_tokens` (o1, o3, o4, gpt-5 families) and `max_tokens` otherwise.
   */
  tokenLimitField?: TokenLimitField;
}

/** How one OpenAI-style endpoint differs from another; filled in by the factories. */
export interface OpenAIWireSettings {
  label: string;
  runtime: RuntimeKind;
  provider: ProviderKind;
  /** Full request path (after the origin) for a batch. */
  path: (batch: ExecuteBatch) => string;
  /** Headers carrying the credential. */
  auth: (secret: Secret | undefined) => Record<string, string>;
  /** Whether the server takes `top_k` (OpenAI itself does not). */
  supportsTopK: boolean;
  /** Whether to ask for `stream_options.include_usage`. */
  streamUsage: boolean;
  tokenLimitField: TokenLimitField;
  /** Azure picks the model from the deployment URL and ignores `model`. */
  sendModel: boolean;
  extraBody: Record<string, unknown> | undefined;
  staticHeaders: Record<string, string>;
  /**
   * How the server continues a final `prefix: true` assistant message: `'continue_final_message'`
   * sends that message last with `continue_final_message: true, add_generation_prompt: false`
   * (vLLM; llama.cpp server); `false`: the server cannot (the runner refuses such requests).
   */
  continuation: 'continue_final_message' | false;
}

/** What the Chat Completions API itself honours: OpenAI and Azure (no continuation). */
export const OPENAI_CAPABILITIES: Readonly<RunnerCapabilities> = Object.freeze({
  tools: true,
  responseFormat: true,
  images: true,
  penalties: true,
});

const REASONING_MODEL = /^(o\d|gpt-5)(?:$|[-.])/;
const REQUEST_KEYS_WE_SET = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'tools',
  'tool_choice',
  'response_format',
  'continue_final_message',
  'add_generation_prompt',
]);

/** The Chat Completions wire, shared by OpenAI, Azure and every compatible server. */
export class OpenAIWire implements ProviderWire {
  readonly label: string;
  readonly runtime: RuntimeKind;
  readonly provider: ProviderKind;
  private readonly settings: OpenAIWireSettings;

  constructor(settings: OpenAIWireSettings) {
    const n = settings.extraBody?.n;
    if (n !== undefined && n !== 1) {
      throw new InferenceError('bad_request', `${settings.label}: only n=1 is supported (one stream per request), got n=${String(n)}`, {
        details: { param: 'extraBody.n' },
      });
    }
    this.label = settings.label;
    this.runtime = settings.runtime;
    this.provider = settings.provider;
    this.settings = settings;
  }

  buildRequest(batch: ExecuteBatch, secret: Secret | undefined): HttpRequest {
    const s = this.settings;
    const bad = (msg: string, param: string) =>
      new InferenceError('bad_request', `${this.label}: ${msg}`, { details: { param }, requestId: batch.requestId });
    const sampling = batch.sampling ?? {};
    const body: OpenAIChatRequest = { model: batch.model, messages: convertToOpenAIMessages(batch.messages, this.label) };
    if (!s.sendModel) delete (body as { model?: string }).model;
    if (batch.stream) {
      body.stream = true;
      if (s.streamUsage) body.stream_options = { include_usage: true };
    }
    if (sampling.maxTokens !== undefined) {
      const field =
        s.tokenLimitField === 'auto' ? (REASONING_MODEL.test(batch.model) ? 'max_completion_tokens' : 'max_tokens') : s.tokenLimitField;
      body[field] = sampling.maxTokens;
    }
    if (sampling.temperature !== undefined) body.temperature = sampling.temperature;
    if (sampling.topP !== undefined) body.top_p = sampling.topP;
    if (sampling.topK !== undefined) {
      if (!s.supportsTopK) throw bad('this endpoint does not support topK', 'topK');
      body.top_k = sampling.topK;
    }
    if (sampling.stop !== undefined && sampling.stop.length > 0) body.stop = sampling.stop;
    if (sampling.presencePenalty !== undefined) body.presence_penalty = sampling.presencePenalty;
    if (sampling.frequencyPenalty !== undefined) body.frequency_penalty = sampling.frequencyPenalty;
    if (sampling.seed !== undefined) body.seed = sampling.seed;
    if (batch.tools !== undefined && batch.tools.length > 0) {
      body.tools = batch.tools.map((t, i) => {
        if (typeof t?.name !== 'string' || t.name === '') throw bad(`tools[${i}].name must be a non-empty string`, `tools[${i}]`);
        return {
          type: 'function' as const,
          function: {
            name: t.name,
            ...(t.description !== undefined ? { description: t.description } : {}),
            parameters: t.parameters,
            ...(t.strict !== undefined ? { strict: t.strict } : {}),
          },
        };
      });
    }
    const choice = batch.toolChoice;
    if (choice !== undefined) {
      body.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
    }
    const format = batch.responseFormat;
    if (format !== undefined) {
      if (format.type === 'json_schema') {
        body.response_format = {
          type: 'json_schema',
          json_schema: {
            name: format.name,
            schema: format.schema,
            ...(format.strict !== undefined ? { strict: format.strict } : {}),
            ...(format.description !== undefined ? { description: format.description } : {}),
          },
        };
      } else body.response_format = { type: format.type };
    }
    if (batch.messages[batch.messages.length - 1]?.prefix === true) {
      // The runner's capabilities let a `prefix` message through only when the server continues.
      if (s.continuation !== 'continue_final_message') throw bad('this endpoint cannot continue an assistant message', 'messages');
      // vLLM's ChatCompletionRequest (vllm/entrypoints/openai/protocol.py): the final message is
      // left open, "Cannot be used at the same time as `add_generation_prompt`", which defaults to
      // true. llama-server takes the same pair (ggml-org/llama.cpp#23012) and, by default, also
      // continues a trailing assistant message without them (--prefill-assistant, #13174).
      body.continue_final_message = true;
      body.add_generation_prompt = false;
    }
    if (s.extraBody !== undefined) {
      for (const [k, v] of Object.entries(s.extraBody)) if (!REQUEST_KEYS_WE_SET.has(k)) body[k] = v;
    }
    return {
      method: 'POST',
      path: s.path(batch),
      headers: {
        'content-type': 'application/json',
        accept: batch.stream ? 'text/event-stream' : 'application/json',
        ...s.staticHeaders,
        ...s.auth(secret),
      },
      body: JSON.stringify(body),
    };
  }

  createDecoder(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): StreamDecoder {
    return new OpenAIStreamDecoder(batch, emit, ctx);
  }

  decodeUnary(json: unknown, batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): void {
    const res = json as OpenAICompletion;
    if (typeof res !== 'object' || res === null) throw unexpected(this.label, 'body is not an object');
    if (res.error !== undefined && res.error !== null) throw openAIStreamError(res.error, ctx);
    const choice = res.choices?.[0];
    if (choice === undefined || typeof choice.message !== 'object' || choice.message === null) {
      throw unexpected(this.label, 'no choices[0].message');
    }
    const msg = choice.message;
    const chunks: TokenChunk[] = [];
    const text = (typeof msg.content === 'string' ? msg.content : '') + (typeof msg.refusal === 'string' ? msg.refusal : '');
    const reasoning = msg.reasoning_content ?? msg.reasoning;
    chunks.push({
      requestId: batch.requestId,
      textDelta: text,
      ...(typeof reasoning === 'string' && reasoning !== '' ? { reasoningDelta: reasoning } : {}),
    });
    const calls = Array.isArray(msg.tool_calls) ? msg.tool_calls : [];
    calls.forEach((c, index) => {
      const delta = {
        index,
        ...(typeof c.id === 'string' ? { id: c.id } : {}),
        ...(typeof c.function?.name === 'string' ? { name: c.function.name } : {}),
        ...(typeof c.function?.arguments === 'string' ? { argumentsDelta: c.function.arguments } : {}),
      };
      if (index === 0) chunks[0]!.toolCallDelta = delta;
      else chunks.push({ requestId: batch.requestId, textDelta: '', toolCallDelta: delta });
    });
    const last = chunks[chunks.length - 1]!;
    if (res.usage !== undefined && res.usage !== null) last.usage = mapOpenAIUsage(res.usage);
    if (typeof choice.finish_reason === 'string') {
      last.finishReason = mapOpenAIFinishReason(choice.finish_reason);
      last.rawFinishReason = choice.finish_reason;
    }
    for (const c of chunks) emit(c);
  }

  parseError(bodyText: string): ProviderErrorInfo {
    return parseOpenAIError(bodyText);
  }
}

/** Reads `{"error": {...}}`, a bare error object, or `{"detail": "..."}` (FastAPI-based servers). */
export function parseOpenAIError(bodyText: string): ProviderErrorInfo {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  const e = (typeof b.error === 'object' && b.error !== null ? b.error : typeof b.error === 'string' ? { message: b.error } : b) as Record<
    string,
    unknown
  >;
  const info: ProviderErrorInfo = {};
  const message = e.message ?? b.detail;
  if (typeof message === 'string') info.message = message;
  if (typeof e.type === 'string') info.type = e.type;
  if (typeof e.code === 'string') info.code = e.code;
  if (typeof e.param === 'string') info.param = e.param;
  return info;
}

function unexpected(label: string, why: string): InferenceError {
  return new InferenceError('server_error', `${label}: unexpected response: ${why}`, {
    provider: label,
    retryable: false,
    details: { code: 'malformed_response' },
  });
}

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** Bearer auth, or nothing when no credential is configured. */
export function bearerAuth(secret: Secret | undefined): Record<string, string> {
  return secret === undefined ? {} : { authorization: `Bearer ${secret.reveal()}` };
}

/** Settings shared by OpenAI and the compatible servers; callers override what differs. */
export function openAIWireSettings(
  label: string,
  basePath: string,
  options: OpenAIRunnerOptions,
  overrides: Partial<OpenAIWireSettings>,
): OpenAIWireSettings {
  const staticHeaders: Record<string, string> = {};
  if (options.organization !== undefined) staticHeaders['openai-organization'] = options.organization;
  if (options.project !== undefined) staticHeaders['openai-project'] = options.project;
  const path = `${basePath}/chat/completions`;
  return {
    label,
    runtime: 'openai',
    provider: 'openai',
    path: () => path,
    auth: bearerAuth,
    supportsTopK: false,
    streamUsage: true,
    tokenLimitField: options.tokenLimitField ?? 'auto',
    sendModel: true,
    extraBody: options.extraBody,
    staticHeaders,
    continuation: false,
    ...overrides,
  };
}

/** Path part of a base URL without trailing slashes (`https://x/v1/` → `/v1`). */
export function basePathOf(baseUrl: string, label: string): string {
  try {
    return new URL(baseUrl).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `${label}: baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`, { details: { param: 'baseUrl' } });
  }
}

/** Option keys of `createOpenAIRunner` beyond the shared ones. */
export const OPENAI_OPTION_KEYS = ['organization', 'project', 'extraBody', 'tokenLimitField'] as const;

/** Reads the OpenAI-specific options (checked; unknown keys were refused by `o`). */
export function readOpenAIOptions(o: RunnerOptions): OpenAIRunnerOptions {
  const out: OpenAIRunnerOptions = readRemoteRunnerOptions(o);
  const organization = o.string('organization', { nonEmpty: true });
  if (organization !== undefined) out.organization = organization;
  const project = o.string('project', { nonEmpty: true });
  if (project !== undefined) out.project = project;
  const extraBody = o.object('extraBody');
  if (extraBody !== undefined) out.extraBody = extraBody;
  const field = o.oneOf('tokenLimitField', ['max_tokens', 'max_completion_tokens', 'auto'] as const);
  if (field !== undefined) out.tokenLimitField = field;
  return out;
}

/**
 * A runner for OpenAI's Chat Completions API (`https://api.openai.com/v1`).
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createOpenAIRunner(options?: OpenAIRunnerOptions): RemoteRunner {
  const o = readOpenAIOptions(new RunnerOptions(options, 'openai', [...REMOTE_RUNNER_OPTION_KEYS, ...OPENAI_OPTION_KEYS]));
  const baseUrl = o.baseUrl ?? OPENAI_BASE_URL;
  const apiKey = o.apiKey ?? { from: 'env' as const, name: 'OPENAI_API_KEY' };
  const wire = new OpenAIWire(openAIWireSettings('openai', basePathOf(baseUrl, 'openai'), o, {}));
  return new RemoteRunner({
    wire,
    baseUrl,
    options: { ...o, apiKey },
    defaultPrices: OPENAI_PRICES,
    credentialRequired: true,
    capabilities: OPENAI_CAPABILITIES,
  });
}
