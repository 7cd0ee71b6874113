import {
  estimatePromptTokens,
  type ContentPart,
  type ExecuteBatch,
  type Message,
  type ResponseFormat,
  type SamplingParams,
  type ToolCall,
  type ToolChoice,
  type ToolDefinition,
} from '@inferkit/inference-core';
import { invalidRequest } from '../http/gateway-error.js';

/** A validated chat completions request. */
export interface ChatRequest {
  /** The `model` field: the gateway's name for the model. */
  model: string;
  /** Everything but `requestId`, `model` and `estimatedTokens`, which the gateway fills in. */
  messages: Message[];
  sampling: SamplingParams;
  stream: boolean;
  /** `stream_options.include_usage`. */
  includeUsage: boolean;
  tools: ToolDefinition[] | undefined;
  toolChoice: ToolChoice | undefined;
  responseFormat: ResponseFormat | undefined;
}

type Obj = Record<string, unknown>;

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const MAX_STOP_SEQUENCES = 4;
// Fields clients send that this gateway cannot honour: a clear 400 beats silently ignoring them.
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  logprobs: (v) => v === true,
  top_logprobs: (v) => v !== undefined && v !== null && v !== 0,
  n: (v) => v !== undefined && v !== null && v !== 1,
  audio: (v) => v !== undefined && v !== null,
  modalities: (v) => Array.isArray(v) && v.some((m) => m !== 'text'),
  functions: (v) => v !== undefined && v !== null,
  function_call: (v) => v !== undefined && v !== null,
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optNumber(body: Obj, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidRequest(`'${key}' must be a number`, key);
  if (v < min || v > max) throw invalidRequest(`'${key}' must be between ${min} and ${max}, got ${v}`, key);
  return v;
}

function optInteger(body: Obj, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = optNumber(body, key, min, max);
  if (v !== undefined && !Number.isInteger(v)) throw invalidRequest(`'${key}' must be an integer`, key);
  return v;
}

function parseContentPart(p: unknown, param: string): ContentPart {
  if (!isObj(p)) throw invalidRequest(`'${param}' must be an object`, param);
  if (p.type === 'text') {
    if (typeof p.text !== 'string') throw invalidRequest(`'${param}.text' must be a string`, `${param}.text`);
    return { type: 'text', text: p.text };
  }
  if (p.type === 'image_url') {
    const url = isObj(p.image_url) ? p.image_url.url : undefined;
    if (typeof url !== 'string' || url.length === 0) {
      throw invalidRequest(`'${param}.image_url.url' must be a non-empty string`, `${param}.image_url.url`);
    }
    const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (m !== null) return { type: 'image_base64', mime: m[1]!, data: m[2]! };
    if (!/^https?:\/\//i.test(url)) {
      throw invalidRequest(`'${param}.image_url.url' must be an http(s) URL or a base64 data URL`, `${param}.image_url.url`);
    }
    return { type: 'image_url', url };
  }
  throw invalidRequest(`'${param}.type' ${JSON.stringify(p.type)} is not supported (text, image_url)`, `${param}.type`);
}

function parseToolCalls(v: unknown, param: string): ToolCall[] {
  if (!Array.isArray(v)) throw invalidRequest(`'${param}' must be an array`, param);
  return v.map((c, i) => {
    const at = `${param}[${i}]`;
    if (!isObj(c) || !isObj(c.function)) throw invalidRequest(`'${at}' must be a function tool call`, at);
    if (typeof c.id !== 'string') throw invalidRequest(`'${at}.id' must be a string`, `${at}.id`);
    const f = c.function;
    if (typeof f.name !== 'string') throw invalidRequest(`'${at}.function.name' must be a string`, `${at}.function.name`);
    if (typeof f.arguments !== 'string') {
      throw invalidRequest(`'${at}.function.arguments' must be a string`, `${at}.function.arguments`);
    }
    return { id: c.id, name: f.name, arguments: f.arguments };
  });
}

function parseMessage(m: unknown, i: number): Message {
  const at = `messages[${i}]`;
  if (!isObj(m)) throw invalidRequest(`'${at}' must be an object`, at);
  if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
    throw invalidRequest(`'${at}.role' must be one of system, developer, user, assistant, tool`, `${at}.role`);
  }
  // `developer` is OpenAI's newer name for system instructions.
  const role = (m.role === 'developer' ? 'system' : m.role) as Message['role'];
  const msg: Message = { role, content: '' };
  const c = m.content;
  if (typeof c === 'string') {
    msg.content = c;
  } else if (Array.isArray(c)) {
    msg.content = c.map((p, j) => parseContentPart(p, `${at}.content[${j}]`));
    if (role !== 'user' && msg.content.some((p) => p.type !== 'text')) {
      throw invalidRequest(`'${at}': only user messages may contain images`, `${at}.content`);
    }
  } else if (c === null || c === undefined) {
    if (!(role === 'assistant' && m.tool_calls !== undefined)) {
      throw invalidRequest(`'${at}.content' is required`, `${at}.content`);
    }
  } else {
    throw invalidRequest(`'${at}.content' must be a string or an array of content parts`, `${at}.content`);
  }
  if (m.name !== undefined) {
    if (typeof m.name !== 'string') throw invalidRequest(`'${at}.name' must be a string`, `${at}.name`);
    msg.name = m.name;
  }
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    if (role !== 'assistant') throw invalidRequest(`'${at}.tool_calls' is only valid on assistant messages`, `${at}.tool_calls`);
    msg.toolCalls = parseToolCalls(m.tool_calls, `${at}.tool_calls`);
  }
  if (role === 'tool') {
    if (typeof m.tool_call_id !== 'string' || m.tool_call_id.length === 0) {
      throw invalidRequest(`'${at}.tool_call_id' is required on tool messages`, `${at}.tool_call_id`);
    }
    msg.toolCallId = m.tool_call_id;
  }
  return msg;
}

function parseTools(v: unknown): ToolDefinition[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalidRequest(`'tools' must be an array`, 'tools');
  const names = new Set<string>();
  return v.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) {
      throw invalidRequest(`'${at}' must be { type: 'function', function: {...} }`, at);
    }
    const f = t.function;
    if (typeof f.name !== 'string' || !TOOL_NAME.test(f.name)) {
      throw invalidRequest(`'${at}.function.name' must match ${TOOL_NAME.source}`, `${at}.function.name`);
    }
    if (names.has(f.name)) throw invalidRequest(`'${at}.function.name' ${f.name} is defined twice`, `${at}.function.name`);
    names.add(f.name);
    if (f.parameters !== undefined && !isObj(f.parameters)) {
      throw invalidRequest(`'${at}.function.parameters' must be a JSON Schema object`, `${at}.function.parameters`);
    }
    const def: ToolDefinition = {
      name: f.name,
      // OpenAI: omitting parameters defines a function with an empty parameter list.
      parameters: (f.parameters as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} },
    };
    if (f.description !== undefined) {
      if (typeof f.description !== 'string') {
        throw invalidRequest(`'${at}.function.description' must be a string`, `${at}.function.description`);
      }
      def.description = f.description;
    }
    if (f.strict !== undefined && f.strict !== null) {
      if (typeof f.strict !== 'boolean') throw invalidRequest(`'${at}.function.strict' must be a boolean`, `${at}.function.strict`);
      def.strict = f.strict;
    }
    return def;
  });
}

function parseToolChoice(v: unknown, tools: ToolDefinition[] | undefined): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') {
    if (v === 'required' && tools === undefined) throw invalidRequest(`'tool_choice' is 'required' but no 'tools' were given`, 'tool_choice');
    return v;
  }
  if (isObj(v) && v.type === 'function' && isObj(v.function) && typeof v.function.name === 'string') {
    const name = v.function.name;
    if (tools === undefined || !tools.some((t) => t.name === name)) {
      throw invalidRequest(`'tool_choice' names function '${name}', which is not in 'tools'`, 'tool_choice');
    }
    return { type: 'tool', name };
  }
  throw invalidRequest(`'tool_choice' must be 'auto', 'none', 'required' or { type: 'function', function: { name } }`, 'tool_choice');
}

function parseResponseFormat(v: unknown): ResponseFormat | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw invalidRequest(`'response_format' must be an object`, 'response_format');
  if (v.type === 'text') return { type: 'text' };
  if (v.type === 'json_object') return { type: 'json_object' };
  if (v.type === 'json_schema') {
    const s = v.json_schema;
    if (!isObj(s) || typeof s.name !== 'string' || s.name.length === 0) {
      throw invalidRequest(`'response_format.json_schema.name' is required`, 'response_format.json_schema.name');
    }
    if (s.schema !== undefined && !isObj(s.schema)) {
      throw invalidRequest(`'response_format.json_schema.schema' must be an object`, 'response_format.json_schema.schema');
    }
    const rf: ResponseFormat = { type: 'json_schema', name: s.name, schema: (s.schema as Record<string, unknown>) ?? {} };
    if (typeof s.strict === 'boolean') rf.strict = s.strict;
    if (typeof s.description === 'string') rf.description = s.description;
    return rf;
  }
  throw invalidRequest(`'response_format.type' must be text, json_object or json_schema`, 'response_format.type');
}

function parseStop(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw invalidRequest(`'stop' must be a non-empty string or an array of non-empty strings`, 'stop');
  }
  if (list.length > MAX_STOP_SEQUENCES) throw invalidRequest(`'stop' takes at most ${MAX_STOP_SEQUENCES} sequences`, 'stop');
  return list as string[];
}

/** Validates a parsed JSON body as a chat completions request. Throws a 400 `GatewayError`. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw invalidRequest('the request body must be a JSON object');
  if (typeof body.model !== 'string' || body.model.length === 0) throw invalidRequest(`'model' is required`, 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw invalidRequest(`'messages' must be a non-empty array`, 'messages');
  }
  for (const key of Object.keys(UNSUPPORTED)) {
    if (UNSUPPORTED[key]!(body[key])) throw invalidRequest(`'${key}' is not supported by this gateway`, key, 'unsupported_parameter');
  }
  const messages = body.messages.map(parseMessage);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalidRequest(`'stream' must be a boolean`, 'stream');
  }
  const stream = body.stream === true;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!stream) throw invalidRequest(`'stream_options' is only allowed when 'stream' is true`, 'stream_options');
    if (!isObj(body.stream_options)) throw invalidRequest(`'stream_options' must be an object`, 'stream_options');
    const iu = body.stream_options.include_usage;
    if (iu !== undefined && typeof iu !== 'boolean') {
      throw invalidRequest(`'stream_options.include_usage' must be a boolean`, 'stream_options.include_usage');
    }
    includeUsage = iu === true;
  }

  const sampling: SamplingParams = {};
  const temperature = optNumber(body, 'temperature', 0, 2);
  if (temperature !== undefined) sampling.temperature = temperature;
  const topP = optNumber(body, 'top_p', 0, 1);
  if (topP !== undefined) sampling.topP = topP;
  // top_k is not OpenAI's, but vLLM and most local servers accept it; pass it through.
  const topK = optInteger(body, 'top_k', 1);
  if (topK !== undefined) sampling.topK = topK;
  const maxCompletion = optInteger(body, 'max_completion_tokens', 1);
  const maxTokens = optInteger(body, 'max_tokens', 1);
  if (maxCompletion !== undefined && maxTokens !== undefined && maxCompletion !== maxTokens) {
    throw invalidRequest(`'max_tokens' and 'max_completion_tokens' disagree; send one`, 'max_tokens');
  }
  const max = maxCompletion ?? maxTokens;
  if (max !== undefined) sampling.maxTokens = max;
  const stop = parseStop(body.stop);
  if (stop !== undefined) sampling.stop = stop;
  const presence = optNumber(body, 'presence_penalty', -2, 2);
  if (presence !== undefined) sampling.presencePenalty = presence;
  const frequency = optNumber(body, 'frequency_penalty', -2, 2);
  if (frequency !== undefined) sampling.frequencyPenalty = frequency;
  // Not OpenAI's either: vLLM's name for the transformers-style repetition penalty (> 0, 1 = off).
  const repetition = optNumber(body, 'repetition_penalty', -Infinity, Infinity);
  if (repetition !== undefined && repetition <= 0) throw invalidRequest(`'repetition_penalty' must be greater than 0, got ${repetition}`, 'repetition_penalty');
  if (repetition !== undefined) sampling.repetitionPenalty = repetition;
  const seed = optInteger(body, 'seed', Number.MIN_SAFE_INTEGER);
  if (seed !== undefined) sampling.seed = seed;

  const tools = parseTools(body.tools);
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  const responseFormat = parseResponseFormat(body.response_format);
  return { model: body.model, messages, sampling, stream, includeUsage, tools, toolChoice, responseFormat };
}

/** Output tokens assumed for rate limiting when the request sets no maximum. */
export const DEFAULT_ESTIMATED_OUTPUT_TOKENS = 256;

/** The runner's view of the request. */
export function toExecuteBatch(req: ChatRequest, requestId: string, runnerModel: string): ExecuteBatch {
  const batch: ExecuteBatch = {
    requestId,
    model: runnerModel,
    messages: req.messages,
    sampling: req.sampling,
    stream: req.stream,
    // The core's tokenizer-free prompt estimate plus the most output the request can produce.
    estimatedTokens: estimatePromptTokens(req.messages, req.tools) + (req.sampling.maxTokens ?? DEFAULT_ESTIMATED_OUTPUT_TOKENS),
  };
  if (req.tools !== undefined) batch.tools = req.tools;
  if (req.toolChoice !== undefined) batch.toolChoice = req.toolChoice;
  if (req.responseFormat !== undefined) batch.responseFormat = req.responseFormat;
  return batch;
}
