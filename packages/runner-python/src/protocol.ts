/**
 * The bridge's frames, one union per direction, mirrored one for one by
 * `python/inferkit_bridge/protocol.py`. Told apart by `type`; field names are the same on both
 * sides (camelCase on the wire).
 *
 * Host → worker: `init` (first, once) · `generate` · `abort` · `ping` · `shutdown`.
 * Worker → host: `ready` (answers init) · `delta` (last one has `finishReason`) · `error`
 * (no `id`: the worker itself failed) · `aborted` (the engine released an aborted request) ·
 * `pong`.
 *
 * Liveness travels on a pipe pair of its own, answered by a thread of the worker rather than its
 * event loop (`python/inferkit_bridge/liveness.py`): `liveness` (host → worker) and `alive`.
 */
import {
  RUNNER_CAPABILITY_NAMES,
  type FinishReason,
  type InferenceErrorJSON,
  type Message,
  type ResponseFormat,
  type RunnerCapabilities,
  type SamplingParams,
  type ToolChoice,
  type ToolDefinition,
} from '@inferkit/inference-core';
import { FrameError } from './frame-codec.js';

/** Bumped on any incompatible frame change; both sides refuse a mismatch at `init`. */
export const PROTOCOL_VERSION = 2;

// ---- host → worker --------------------------------------------------------------------------

/** Starts the engine. Answered by `ready`, or by a fatal `error` and exit. */
export interface InitFrame {
  type: 'init';
  protocol: number;
  /** `vllm`, `transformers`, or `module:factory`. */
  engine: string;
  /** Model id or path (from `loadWeights` or the options); `null` lets the engine args decide. */
  model: string | null;
  /** Hub revision, for `hugging_face` weight sources. */
  revision: string | null;
  /** Passed to the engine untouched (vLLM `AsyncEngineArgs`, `from_pretrained` kwargs, ...). */
  engineArgs: Record<string, unknown>;
}

/** One request. Exactly one of `messages` and `prompt`. */
export interface GenerateFrame {
  type: 'generate';
  /** Wire id, unique among the worker's live requests (not the caller's requestId). */
  id: string;
  /**
   * Text content arrives as strings (image parts only for engines that declare `images`); a last
   * assistant message with `prefix: true` asks the engine to continue it.
   */
  messages?: Message[];
  /** Raw prompt text, sent when the runner renders the prompt itself (`promptTemplate`). */
  prompt?: string;
  sampling?: SamplingParams;
  model?: string;
  responseFormat?: ResponseFormat;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

/** Stop a request; answered by `aborted` (or nothing if it had already finished). */
export interface AbortFrame {
  type: 'abort';
  id: string;
}

/** Health check; answered by `pong` with the same nonce. */
export interface PingFrame {
  type: 'ping';
  nonce: number;
}

/** Graceful stop: abort everything, close the engine, exit 0. */
export interface ShutdownFrame {
  type: 'shutdown';
}

export type HostFrame = InitFrame | GenerateFrame | AbortFrame | PingFrame | ShutdownFrame;

/** Liveness ping, on the liveness pipe; answered by `alive` from a thread of the worker. */
export interface LivenessFrame {
  type: 'liveness';
  nonce: number;
  /** The host's deadline: a worker whose event loop has stalled longer logs where it is stuck. */
  deadlineMs: number;
}

// ---- worker → host --------------------------------------------------------------------------

/** What the engine told about itself at start-up. */
export interface EngineInfo {
  /** Engine family, e.g. `vllm`, `transformers`, or a custom engine's own name. */
  name: string;
  /** Model it serves, if known. */
  model: string | null;
  /** Context window in tokens, if known. */
  maxContext: number | null;
  /** Whether the tokenizer has a chat template (else send prompts, see `promptTemplate`). */
  chatTemplate: boolean;
  /** Where it computes (`cuda:0`, `cpu`), if the engine knows. */
  device: string | null;
  /**
   * What the engine honours beyond plain text chat (`RunnerCapabilities` names, `true` only);
   * the bridge and the runner refuse the rest. `tokenIds` never: frames carry no token ids.
   */
  capabilities: RunnerCapabilities;
}

export interface ReadyFrame {
  type: 'ready';
  protocol: number;
  /** Worker process id. */
  pid: number;
  /** Python version of the worker. */
  python: string;
  engine: EngineInfo;
}

/** Token counts on the final delta; `inputTokens`/`cachedTokens` absent when unknown. */
export interface WireUsage {
  inputTokens?: number;
  outputTokens: number;
  cachedTokens?: number;
}

/** New text of one request (several tokens when the worker batched them). */
export interface DeltaFrame {
  type: 'delta';
  id: string;
  text: string;
  /** Tokens this text spans. */
  tokens: number;
  /** Present on the request's last frame only. */
  finishReason?: FinishReason;
  usage?: WireUsage;
}

export interface ErrorFrame {
  type: 'error';
  /** The failed request; absent when the worker itself failed. */
  id?: string;
  error: InferenceErrorJSON;
  /** The worker exits after this frame. */
  fatal?: boolean;
}

export interface AbortedFrame {
  type: 'aborted';
  id: string;
}

export interface PongFrame {
  type: 'pong';
  nonce: number;
  /** Requests the worker is running. */
  inFlight: number;
  /** False once the engine reported itself dead. */
  healthy: boolean;
  /** The engine's own `stats()`, if it has one. */
  stats?: Record<string, unknown>;
}

export type WorkerFrame = ReadyFrame | DeltaFrame | ErrorFrame | AbortedFrame | PongFrame;

/** Answer to a `liveness` ping, from the worker's liveness thread. */
export interface AliveFrame {
  type: 'alive';
  nonce: number;
  /** How long the worker's event loop has left a callback waiting (0: it is running freely). */
  loopLagMs: number;
}

const FINISH_REASONS: ReadonlySet<string> = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'error']);
const CAPABILITY_NAMES: ReadonlySet<string> = new Set(RUNNER_CAPABILITY_NAMES);
/** Longest wire id the runner ever sends (decimal counter); longer ones are not ours. */
const MAX_WIRE_ID_LENGTH = 20;

function fail(frame: Record<string, unknown>, what: string): never {
  throw new FrameError(`malformed ${String(frame.type).slice(0, 32)} frame from the worker: ${what}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a decoded frame's shape (only the fields the runner reads). Throws `FrameError`: a worker
 * that sends something else is broken, and the runner treats it as crashed.
 */
export function parseWorkerFrame(value: unknown): WorkerFrame {
  if (!isObject(value)) throw new FrameError('worker frame is not an object');
  const f = value;
  switch (f.type) {
    case 'delta':
      // Hot path: a handful of typeof checks per frame.
      if (!isWireId(f.id)) fail(f, 'id');
      if (typeof f.text !== 'string') fail(f, 'text');
      if (!isCount(f.tokens)) fail(f, 'tokens');
      if (f.finishReason !== undefined && !(typeof f.finishReason === 'string' && FINISH_REASONS.has(f.finishReason))) {
        fail(f, `finishReason ${describe(f.finishReason)}`);
      }
      if (f.usage !== undefined && !isUsage(f.usage)) fail(f, 'usage');
      return f as unknown as DeltaFrame;
    case 'error':
      if (f.id !== undefined && !isWireId(f.id)) fail(f, 'id');
      if (!isObject(f.error)) fail(f, 'error');
      if (f.fatal !== undefined && typeof f.fatal !== 'boolean') fail(f, 'fatal');
      return f as unknown as ErrorFrame;
    case 'aborted':
      if (!isWireId(f.id)) fail(f, 'id');
      return f as unknown as AbortedFrame;
    case 'pong':
      if (!Number.isSafeInteger(f.nonce) || !isCount(f.inFlight) || typeof f.healthy !== 'boolean') {
        fail(f, 'nonce/inFlight/healthy');
      }
      if (f.stats !== undefined && !isObject(f.stats)) fail(f, 'stats');
      return f as unknown as PongFrame;
    case 'ready': {
      if (typeof f.protocol !== 'number' || !isCount(f.pid) || !isObject(f.engine)) fail(f, 'protocol/pid/engine');
      const e = f.engine;
      if (typeof e.name !== 'string' || typeof e.chatTemplate !== 'boolean') fail(f, 'engine');
      if (!(e.model === null || e.model === undefined || typeof e.model === 'string')) fail(f, 'engine.model');
      if (!(e.device === null || e.device === undefined || typeof e.device === 'string')) fail(f, 'engine.device');
      if (!(e.maxContext === null || e.maxContext === undefined || isCount(e.maxContext))) fail(f, 'engine.maxContext');
      const engine: EngineInfo = {
        name: e.name,
        model: (e.model as string | null | undefined) ?? null,
        maxContext: (e.maxContext as number | null | undefined) ?? null,
        chatTemplate: e.chatTemplate,
        device: (e.device as string | null | undefined) ?? null,
        capabilities: parseCapabilities(f, e.capabilities),
      };
      return { type: 'ready', protocol: f.protocol as number, pid: f.pid as number, python: typeof f.python === 'string' ? f.python : '', engine };
    }
    default:
      throw new FrameError(`unknown worker frame type ${describe(f.type)}`);
  }
}

/** Checks a frame from the liveness pipe. Throws `FrameError`. */
export function parseAliveFrame(value: unknown): AliveFrame {
  if (!isObject(value) || value.type !== 'alive') throw new FrameError(`unknown liveness frame ${describe(isObject(value) ? value.type : value)}`);
  if (!Number.isSafeInteger(value.nonce) || !isCount(value.loopLagMs)) fail(value, 'nonce/loopLagMs');
  return value as unknown as AliveFrame;
}

function isWireId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_WIRE_ID_LENGTH;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isUsage(u: unknown): boolean {
  if (!isObject(u) || !isCount(u.outputTokens)) return false;
  return (u.inputTokens === undefined || isCount(u.inputTokens)) && (u.cachedTokens === undefined || isCount(u.cachedTokens));
}

/** Known names with `true` kept; `tokenIds` dropped (frames carry no token ids); anything else is a broken worker. */
function parseCapabilities(frame: Record<string, unknown>, raw: unknown): RunnerCapabilities {
  const out: RunnerCapabilities = {};
  if (raw === undefined || raw === null) return out;
  if (!isObject(raw)) fail(frame, 'engine.capabilities');
  for (const [name, on] of Object.entries(raw)) {
    if (!CAPABILITY_NAMES.has(name) || typeof on !== 'boolean') fail(frame, `engine.capabilities.${name.slice(0, 64)}`);
    if (on && name !== 'tokenIds') out[name as keyof RunnerCapabilities] = true;
  }
  return out;
}

/** A bounded rendering of a value from the worker, for error messages. */
function describe(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : typeof v === 'object' && v !== null ? typeof v : String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
