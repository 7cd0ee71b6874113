import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError } from './inference-error.js';
import type { RunnerCapabilities } from './runner-capabilities.js';

/** Options of `validateBatch`. */
export interface ValidateBatchOptions {
  /** Prefix of error messages, e.g. the runner's name (default `'execute'`). */
  label?: string;
  /**
   * What the runner can do. When given, a request using a feature the runner does not declare
   * (tools, a non-text `responseFormat`, image parts, a `prefix` message, non-zero penalties, a
   * repetition penalty other than 1, `continuationTokenIds`) is refused with `bad_request` naming the parameter, instead of being
   * ignored silently.
   */
  capabilities?: RunnerCapabilities;
}

/** Longest `requestId` accepted: ids end up in logs, headers and metrics labels. */
export const MAX_REQUEST_ID_LENGTH = 256;
/** Most stop strings per request. */
export const MAX_STOP_SEQUENCES = 64;
/** Deepest nesting accepted in a tool's `parameters` or a response schema. */
export const MAX_SCHEMA_DEPTH = 64;
/** Most values (objects, arrays, scalars) in one tool's `parameters` or a response schema. */
export const MAX_SCHEMA_NODES = 100_000;

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);
const TOOL_CHOICES: ReadonlySet<string> = new Set(['auto', 'none', 'required']);

/**
 * Checks an `ExecuteBatch` the way every runner should before doing any work, and throws
 * `InferenceError('bad_request')` with `details.param` naming the first offending field.
 * Schemas are walked iteratively with bounded depth and size, so hostile nesting cannot overflow
 * the stack. Cheap: O(size of the request), no allocation on valid input beyond the walk's stack.
 */
export function validateBatch(batch: ExecuteBatch, options?: ValidateBatchOptions): void {
  const label = options?.label ?? 'execute';
  const requestId = typeof (batch as { requestId?: unknown } | null)?.requestId === 'string' ? batch.requestId : undefined;
  const bad = (param: string, why: string): InferenceError =>
    new InferenceError('bad_request', `${label}: ${param} ${why}`, {
      details: { param },
      ...(requestId !== undefined && requestId !== '' ? { requestId } : {}),
    });
  if (typeof batch !== 'object' || batch === null) throw bad('batch', 'must be an object');
  if (typeof batch.requestId !== 'string' || batch.requestId === '') throw bad('requestId', 'must be a non-empty string');
  if (batch.requestId.length > MAX_REQUEST_ID_LENGTH) throw bad('requestId', `must be at most ${MAX_REQUEST_ID_LENGTH} characters`);
  if (typeof batch.model !== 'string' || batch.model === '') throw bad('model', 'must be a non-empty string');
  if (!Array.isArray(batch.messages) || batch.messages.length === 0) throw bad('messages', 'must be a non-empty array');
  if (batch.stream !== undefined && typeof batch.stream !== 'boolean') throw bad('stream', 'must be a boolean');
  const est = batch.estimatedTokens;
  if (est !== undefined && !(typeof est === 'number' && Number.isFinite(est) && est >= 0)) {
    throw bad('estimatedTokens', 'must be a finite number >= 0');
  }
  const caps = options?.capabilities;
  const last = batch.messages.length - 1;
  for (let i = 0; i <= last; i++) {
    const m = batch.messages[i];
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw bad(at, 'must be an object');
    if (!ROLES.has(m.role)) throw bad(`${at}.role`, 'must be one of system, user, assistant, tool');
    const content = m.content;
    if (typeof content !== 'string') {
      if (!Array.isArray(content)) throw bad(`${at}.content`, 'must be a string or an array of parts');
      for (let j = 0; j < content.length; j++) {
        const p = content[j];
        const pat = `${at}.content[${j}]`;
        if (typeof p !== 'object' || p === null) throw bad(pat, 'must be a content part object');
        if (p.type === 'text') {
          if (typeof p.text !== 'string') throw bad(`${pat}.text`, 'must be a string');
        } else if (p.type === 'image_base64' || p.type === 'image_url') {
          if (p.type === 'image_base64' && (typeof p.mime !== 'string' || typeof p.data !== 'string')) {
            throw bad(pat, 'image_base64 needs string mime and data');
          }
          if (p.type === 'image_url' && typeof p.url !== 'string') throw bad(`${pat}.url`, 'must be a string');
          if (caps !== undefined && caps.images !== true) throw bad(pat, 'is an image: this runner takes text only');
        } else {
          throw bad(`${pat}.type`, 'must be text, image_base64 or image_url');
        }
      }
    }
    if (m.name !== undefined && typeof m.name !== 'string') throw bad(`${at}.name`, 'must be a string');
    if (m.toolCalls !== undefined) {
      if (m.role !== 'assistant') throw bad(`${at}.toolCalls`, 'is only allowed on assistant messages');
      if (!Array.isArray(m.toolCalls)) throw bad(`${at}.toolCalls`, 'must be an array');
      m.toolCalls.forEach((c, j) => {
        if (typeof c !== 'object' || c === null || typeof c.id !== 'string' || typeof c.name !== 'string' || typeof c.arguments !== 'string') {
          throw bad(`${at}.toolCalls[${j}]`, 'must have string id, name and arguments');
        }
      });
    }
    if (m.toolCallId !== undefined && typeof m.toolCallId !== 'string') throw bad(`${at}.toolCallId`, 'must be a string');
    if (m.prefix !== undefined) {
      if (m.prefix !== true) throw bad(`${at}.prefix`, 'must be true or absent');
      if (i !== last || m.role !== 'assistant') throw bad(`${at}.prefix`, 'is only allowed on the last message, an assistant message');
      if (caps !== undefined && caps.continuation !== true) throw bad(`${at}.prefix`, 'asks for a continuation, which this runner does not support');
    }
  }
  const s = batch.sampling;
  if (s !== undefined) {
    if (typeof s !== 'object' || s === null) throw bad('sampling', 'must be an object');
    checkNumber(s.temperature, 'sampling.temperature', 0, Infinity, bad);
    if (s.topP !== undefined && !(typeof s.topP === 'number' && s.topP > 0 && s.topP <= 1)) throw bad('sampling.topP', 'must be in (0, 1]');
    checkInteger(s.topK, 'sampling.topK', 1, bad);
    checkInteger(s.maxTokens, 'sampling.maxTokens', 1, bad);
    if (s.seed !== undefined && !Number.isSafeInteger(s.seed)) throw bad('sampling.seed', 'must be a safe integer');
    checkNumber(s.presencePenalty, 'sampling.presencePenalty', -2, 2, bad);
    checkNumber(s.frequencyPenalty, 'sampling.frequencyPenalty', -2, 2, bad);
    const rp = s.repetitionPenalty;
    if (rp !== undefined && !(typeof rp === 'number' && Number.isFinite(rp) && rp > 0)) throw bad('sampling.repetitionPenalty', 'must be a finite number > 0');
    if (caps !== undefined && caps.penalties !== true) {
      // OpenAI clients send 0 by default: a zero penalty changes nothing, so it is not refused.
      if (s.presencePenalty !== undefined && s.presencePenalty !== 0) throw bad('sampling.presencePenalty', 'is not supported by this runner');
      if (s.frequencyPenalty !== undefined && s.frequencyPenalty !== 0) throw bad('sampling.frequencyPenalty', 'is not supported by this runner');
    }
    // Likewise 1, which leaves every logit alone.
    if (caps !== undefined && caps.repetitionPenalty !== true && rp !== undefined && rp !== 1) throw bad('sampling.repetitionPenalty', 'is not supported by this runner');
    if (s.stop !== undefined) {
      if (!Array.isArray(s.stop) || s.stop.some((x) => typeof x !== 'string')) throw bad('sampling.stop', 'must be an array of strings');
      if (s.stop.length > MAX_STOP_SEQUENCES) throw bad('sampling.stop', `must have at most ${MAX_STOP_SEQUENCES} entries`);
    }
  }
  const tools = batch.tools;
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw bad('tools', 'must be an array');
    if (tools.length > 0 && caps !== undefined && caps.tools !== true) throw bad('tools', 'are not supported by this runner');
    const names = new Set<string>();
    tools.forEach((t, i) => {
      if (typeof t !== 'object' || t === null) throw bad(`tools[${i}]`, 'must be an object');
      if (typeof t.name !== 'string' || t.name === '') throw bad(`tools[${i}].name`, 'must be a non-empty string');
      if (names.has(t.name)) throw bad(`tools[${i}].name`, `repeats ${JSON.stringify(t.name)}`);
      names.add(t.name);
      if (t.description !== undefined && typeof t.description !== 'string') throw bad(`tools[${i}].description`, 'must be a string');
      if (typeof t.parameters !== 'object' || t.parameters === null || Array.isArray(t.parameters)) {
        throw bad(`tools[${i}].parameters`, 'must be a JSON Schema object');
      }
      const why = checkJsonBounds(t.parameters);
      if (why !== null) throw bad(`tools[${i}].parameters`, why);
    });
  }
  const choice = batch.toolChoice;
  if (choice !== undefined) {
    if (typeof choice === 'string') {
      if (!TOOL_CHOICES.has(choice)) throw bad('toolChoice', "must be 'auto', 'none', 'required' or { type: 'tool', name }");
      if (choice === 'required' && (tools === undefined || tools.length === 0)) throw bad('toolChoice', "'required' needs tools");
    } else if (typeof choice === 'object' && choice !== null && choice.type === 'tool' && typeof choice.name === 'string') {
      if (tools === undefined || !tools.some((t) => t.name === choice.name)) throw bad('toolChoice', `names ${JSON.stringify(choice.name)}, which is not in tools`);
    } else {
      throw bad('toolChoice', "must be 'auto', 'none', 'required' or { type: 'tool', name }");
    }
  }
  const rf = batch.responseFormat;
  if (rf !== undefined) {
    if (typeof rf !== 'object' || rf === null) throw bad('responseFormat', 'must be an object');
    if (rf.type === 'json_schema') {
      if (typeof rf.name !== 'string') throw bad('responseFormat.name', 'must be a string');
      if (typeof rf.schema !== 'object' || rf.schema === null || Array.isArray(rf.schema)) throw bad('responseFormat.schema', 'must be a JSON Schema object');
      const why = checkJsonBounds(rf.schema);
      if (why !== null) throw bad('responseFormat.schema', why);
    } else if (rf.type !== 'json_object' && rf.type !== 'text') {
      throw bad('responseFormat.type', 'must be text, json_object or json_schema');
    }
    if (rf.type !== 'text' && caps !== undefined && caps.responseFormat !== true) throw bad('responseFormat', 'is not supported by this runner');
  }
  const ids = batch.continuationTokenIds;
  if (ids !== undefined) {
    if (!Array.isArray(ids) || ids.some((x) => !Number.isSafeInteger(x) || x < 0)) throw bad('continuationTokenIds', 'must be an array of token ids (integers >= 0)');
    if (batch.messages[last]?.prefix !== true) throw bad('continuationTokenIds', 'needs a last message with prefix: true');
    if (caps !== undefined && caps.tokenIds !== true) throw bad('continuationTokenIds', 'are not supported by this runner');
  }
}

function checkNumber(v: unknown, param: string, min: number, max: number, bad: (p: string, w: string) => InferenceError): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw bad(param, max === Infinity ? `must be a finite number >= ${min}` : `must be a number in [${min}, ${max}]`);
  }
}

function checkInteger(v: unknown, param: string, min: number, bad: (p: string, w: string) => InferenceError): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(param, `must be an integer >= ${min}`);
}

/**
 * Walks a JSON value without recursion; returns why it is out of bounds, or null. Cycles count
 * against the node budget, so they are refused too instead of looping.
 */
function checkJsonBounds(root: unknown): string | null {
  const stack: Array<{ v: unknown; d: number }> = [{ v: root, d: 1 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (++nodes > MAX_SCHEMA_NODES) return `has more than ${MAX_SCHEMA_NODES} values`;
    if (typeof v !== 'object' || v === null) continue;
    if (d > MAX_SCHEMA_DEPTH) return `nests deeper than ${MAX_SCHEMA_DEPTH} levels`;
    if (Array.isArray(v)) for (const x of v) stack.push({ v: x, d: d + 1 });
    else for (const k in v) stack.push({ v: (v as Record<string, unknown>)[k], d: d + 1 });
  }
  return null;
}
