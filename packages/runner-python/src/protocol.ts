/**
 * The bridge's frames, one union per direction, mirrored one for one by
 * `python/inferkit_bridge/protocol.py`. Told apart by `type`; field names are the same on both
 * sides (camelCase on the wire).
 *
 * Host → worker: `init` (first, once) · `generate` · `abort` · `ping` · `shutdown`.
 * Worker → host: `ready` (answers init) · `delta` (last one has `finishReason`) · `error`
 * (no `id`: the worker itself failed) · `aborted` (the engine released an aborted request) ·
 * `pong`.
 */
import type {
  FinishReason,
  InferenceErrorJSON,
  Message,
  ResponseFormat,
  SamplingParams,
  ToolChoice,
  ToolDefinition,
} from '@inferkit/inference-core';
import { FrameError } from './frame-codec.js';

/** Bumped on any incompatible frame change; both sides refuse a mismatch at `init`. */
export const PROTOCOL_VERSION = 1;

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

const FINISH_REASONS: ReadonlySet<string> = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'error']);

function fail(frame: Record<string, unknown>, what: string): never {
  throw new FrameError(`malformed ${String(frame.type)} frame from the worker: ${what}`);
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
      if (typeof f.id !== 'string') fail(f, 'id');
      if (typeof f.text !== 'string') fail(f, 'text');
      if (typeof f.tokens !== 'number') fail(f, 'tokens');
      if (f.finishReason !== undefined && !(typeof f.finishReason === 'string' && FINISH_REASONS.has(f.finishReason))) {
        fail(f, `finishReason ${JSON.stringify(f.finishReason)}`);
      }
      if (f.usage !== undefined && !(isObject(f.usage) && typeof f.usage.outputTokens === 'number')) fail(f, 'usage');
      return f as unknown as DeltaFrame;
    case 'error':
      if (f.id !== undefined && typeof f.id !== 'string') fail(f, 'id');
      if (!isObject(f.error)) fail(f, 'error');
      return f as unknown as ErrorFrame;
    case 'aborted':
      if (typeof f.id !== 'string') fail(f, 'id');
      return f as unknown as AbortedFrame;
    case 'pong':
      if (typeof f.nonce !== 'number' || typeof f.inFlight !== 'number' || typeof f.healthy !== 'boolean') {
        fail(f, 'nonce/inFlight/healthy');
      }
      return f as unknown as PongFrame;
    case 'ready': {
      if (typeof f.protocol !== 'number' || typeof f.pid !== 'number' || !isObject(f.engine)) fail(f, 'protocol/pid/engine');
      const e = f.engine;
      if (typeof e.name !== 'string' || typeof e.chatTemplate !== 'boolean') fail(f, 'engine');
      return f as unknown as ReadyFrame;
    }
    default:
      throw new FrameError(`unknown worker frame type ${JSON.stringify(f.type)}`);
  }
}
