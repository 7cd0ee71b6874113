import { InferenceError, RunnerOptions, type ExecuteBatch, type RunnerCapabilities } from '@inferkit/inference-core';
import type { ClassifyContext, ProviderErrorInfo } from '../http/classify-http-error.js';
import type { CredentialInput, Secret } from '../http/credentials.js';
import type { HttpRequest } from '../http/http-transport.js';
import type { StreamDecoder } from '../http/response-sinks.js';
import { GEMINI_PRICES } from '../pricing/pricing-table.js';
import { inner, nested, readRemoteRunnerOptions, REMOTE_RUNNER_OPTION_KEYS } from '../read-remote-runner-options.js';
import { RemoteRunner, type ChunkEmitter, type ProviderWire, type RemoteRunnerOptions } from '../remote-runner.js';
import { convertToGeminiMessages } from './convert-to-gemini-messages.js';
import type { GeminiRequest, GeminiResponse } from './gemini-api.js';
import { geminiErrorInfo, GeminiResponseDecoder } from './gemini-stream-decoder.js';

export const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

export interface GeminiRunnerOptions extends RemoteRunnerOptions {
  /**
   * Use Vertex AI instead of AI Studio: the URL names the project and location, and `apiKey`
   * must be an OAuth access-token provider (sent as `Authorization: Bearer`).
   */
  vertex?: { project: string; location: string };
  /** Extra body fields (`safetySettings`, `cachedContent`, ...); never override fields this runner sets. */
  extraBody?: Record<string, unknown>;
  /** Extra `generationConfig` fields (`thinkingConfig`, ...). */
  generationConfig?: Record<string, unknown>;
}

const KEYS_WE_SET = new Set(['contents', 'systemInstruction', 'generationConfig', 'tools', 'toolConfig']);

/** What the Gemini API honours (`presencePenalty`/`frequencyPenalty` in `generationConfig`); it does not continue a message. */
export const GEMINI_CAPABILITIES: Readonly<RunnerCapabilities> = Object.freeze({ tools: true, responseFormat: true, images: true, penalties: true });

/** Option keys of `createGeminiRunner` beyond the shared ones. */
export const GEMINI_OPTION_KEYS = ['vertex', 'extraBody', 'generationConfig'] as const;

export class GeminiWire implements ProviderWire {
  readonly label = 'gemini';
  readonly runtime = 'gemini' as const;
  readonly provider = 'gemini' as const;
  private readonly modelsPath: string;
  private readonly vertex: boolean;
  private readonly options: GeminiRunnerOptions;

  constructor(modelsPath: string, options: GeminiRunnerOptions) {
    this.modelsPath = modelsPath;
    this.vertex = options.vertex !== undefined;
    this.options = options;
  }

  buildRequest(batch: ExecuteBatch, secret: Secret | undefined): HttpRequest {
    const s = batch.sampling ?? {};
    const prompt = convertToGeminiMessages(batch.messages, 'gemini');
    const body: GeminiRequest = { contents: prompt.contents };
    if (prompt.systemInstruction !== undefined) body.systemInstruction = prompt.systemInstruction;
    const gc: Record<string, unknown> = { ...this.options.generationConfig };
    if (s.temperature !== undefined) gc.temperature = s.temperature;
    if (s.topP !== undefined) gc.topP = s.topP;
    if (s.topK !== undefined) gc.topK = s.topK;
    if (s.maxTokens !== undefined) gc.maxOutputTokens = s.maxTokens;
    if (s.stop !== undefined && s.stop.length > 0) gc.stopSequences = s.stop;
    if (s.presencePenalty !== undefined) gc.presencePenalty = s.presencePenalty;
    if (s.frequencyPenalty !== undefined) gc.frequencyPenalty = s.frequencyPenalty;
    if (s.seed !== undefined) gc.seed = s.seed;
    const format = batch.responseFormat;
    if (format?.type === 'json_object') gc.responseMimeType = 'application/json';
    else if (format?.type === 'json_schema') {
      gc.responseMimeType = 'application/json';
      gc.responseJsonSchema = format.schema;
    }
    if (Object.keys(gc).length > 0) body.generationConfig = gc;
    if (batch.tools !== undefined && batch.tools.length > 0) {
      body.tools = [
        {
          functionDeclarations: batch.tools.map((t) => ({
            name: t.name,
            ...(t.description !== undefined ? { description: t.description } : {}),
            parametersJsonSchema: t.parameters,
          })),
        },
      ];
    }
    const choice = batch.toolChoice;
    if (choice !== undefined) {
      body.toolConfig = {
        functionCallingConfig:
          choice === 'auto'
            ? { mode: 'AUTO' }
            : choice === 'none'
              ? { mode: 'NONE' }
              : choice === 'required'
                ? { mode: 'ANY' }
                : { mode: 'ANY', allowedFunctionNames: [choice.name] },
      };
    }
    if (this.options.extraBody !== undefined) {
      for (const [k, v] of Object.entries(this.options.extraBody)) if (!KEYS_WE_SET.has(k)) body[k] = v;
    }
    const model = encodeURIComponent(batch.model.replace(/^models\//, ''));
    const path = batch.stream
      ? `${this.modelsPath}/${model}:streamGenerateContent?alt=sse`
      : `${this.modelsPath}/${model}:generateContent`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: batch.stream ? 'text/event-stream' : 'application/json',
    };
    if (secret !== undefined) {
      if (this.vertex) headers.authorization = `Bearer ${secret.reveal()}`;
      else headers['x-goog-api-key'] = secret.reveal();
    }
    return { method: 'POST', path, headers, body: JSON.stringify(body) };
  }

  createDecoder(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): StreamDecoder {
    return new GeminiResponseDecoder(batch, emit, ctx);
  }

  decodeUnary(json: unknown, batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): void {
    if (typeof json !== 'object' || json === null) {
      throw new InferenceError('server_error', 'gemini: unexpected response: body is not an object', {
        provider: 'gemini',
        retryable: false,
        details: { code: 'malformed_response' },
      });
    }
    const decoder = new GeminiResponseDecoder(batch, emit, ctx);
    decoder.onResponse(json as GeminiResponse);
    decoder.onEnd();
  }

  parseError(bodyText: string): ProviderErrorInfo {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return {};
    }
    // Some Google front ends wrap the error in a one-element array.
    const first = Array.isArray(body) ? body[0] : body;
    const e = (first as { error?: unknown } | null)?.error;
    return typeof e === 'object' && e !== null ? geminiErrorInfo(e) : {};
  }
}

/**
 * A runner for the Gemini API, on AI Studio (`x-goog-api-key`) or Vertex AI (bearer token).
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createGeminiRunner(options?: GeminiRunnerOptions): RemoteRunner {
  const raw = new RunnerOptions(options, 'gemini', [...REMOTE_RUNNER_OPTION_KEYS, ...GEMINI_OPTION_KEYS]);
  const o: GeminiRunnerOptions = readRemoteRunnerOptions(raw);
  const v = nested(raw, 'vertex', ['project', 'location']);
  if (v !== undefined) {
    o.vertex = inner('vertex', () => {
      const project = v.string('project', { nonEmpty: true });
      const location = v.string('location', { pattern: /^[a-z0-9-]+$/, describe: "a location such as 'us-central1' or 'global'" });
      if (project === undefined) throw v.error('project', 'is required');
      if (location === undefined) throw v.error('location', 'is required');
      return { project, location };
    });
  }
  const extraBody = raw.object('extraBody');
  if (extraBody !== undefined) o.extraBody = extraBody;
  const generationConfig = raw.object('generationConfig');
  if (generationConfig !== undefined) o.generationConfig = generationConfig;
  const vertex = o.vertex;
  let baseUrl: string;
  let modelsPath: string;
  let apiKey: CredentialInput | undefined = o.apiKey;
  if (vertex !== undefined) {
    if (apiKey === undefined) {
      throw new InferenceError('bad_request', 'gemini: vertex needs apiKey: an OAuth access-token provider', { details: { param: 'apiKey' } });
    }
    const host = vertex.location === 'global' ? 'aiplatform.googleapis.com' : `${vertex.location}-aiplatform.googleapis.com`;
    baseUrl = o.baseUrl ?? `https://${host}/v1`;
    modelsPath = `${pathOf(baseUrl)}/projects/${encodeURIComponent(vertex.project)}/locations/${encodeURIComponent(vertex.location)}/publishers/google/models`;
  } else {
    baseUrl = o.baseUrl ?? GEMINI_BASE_URL;
    modelsPath = `${pathOf(baseUrl)}/models`;
    apiKey ??= { from: 'env', name: 'GEMINI_API_KEY' };
  }
  return new RemoteRunner({
    wire: new GeminiWire(modelsPath, o),
    baseUrl,
    options: { ...o, apiKey },
    defaultPrices: GEMINI_PRICES,
    credentialRequired: true,
    capabilities: GEMINI_CAPABILITIES,
  });
}

function pathOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `gemini: baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`, { details: { param: 'baseUrl' } });
  }
}
