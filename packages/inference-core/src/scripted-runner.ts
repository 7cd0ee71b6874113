import { type Clock, realClock } from './clock.js';
import { estimatePromptTokens } from './estimate-prompt-tokens.js';
import type { ExecuteBatch } from './execute-batch.js';
import type { FinishReason } from './finish-reason.js';
import { InferenceError } from './inference-error.js';
import type { ExecuteOptions, ModelRunner } from './model-runner.js';
import type { RateLimits } from './rate-limits.js';
import { rebuildCauseApplies } from './rebuild-cause-applies.js';
import type { RunnerCapabilities } from './runner-capabilities.js';
import { RunHandle } from './run-handle.js';
import type { RuntimeKind } from './runtime-kind.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import { abortError } from './abort-error.js';
import { sleep } from './sleep.js';
import type { TokenChunk } from './token-chunk.js';
import type { TokenUsage } from './token-usage.js';
import type { TransportKind } from './transport-kind.js';
import { validateBatch } from './validate-batch.js';

/** One step of a script, run in order. */
export type ScriptStep =
  /** Emit a text chunk. */
  | { text: string }
  /** Emit any chunk (`requestId` and `textDelta` are filled in when missing). */
  | { chunk: Partial<TokenChunk> }
  /** Wait on the runner's clock (a `FakeClock` in tests). */
  | { delayMs: number }
  /** Throw from the stream (mid-stream if chunks came before). */
  | { error: unknown }
  /** Emit the final chunk. */
  | { finish: FinishReason; usage?: TokenUsage; costUsd?: number };

/** What one `execute` call does. */
export interface Script {
  /** Reject `execute` itself with this (nothing is streamed). */
  executeError?: unknown;
  /** Wait this long (runner clock) before `execute` resolves. */
  executeDelayMs?: number;
  /** The stream. */
  steps: ScriptStep[];
}

/** Options of `ScriptedRunner`. */
export interface ScriptedRunnerOptions {
  /**
   * The script: fixed, or per call (`call` is 1-based across the runner's life). Omitted: a
   * well-behaved default model that streams `min(maxTokens ?? 8, 256)` chunks `"tok<i> "`, then a
   * finish chunk (`length` if `maxTokens` was given, else `stop`) with usage.
   */
  script?: Script | ScriptStep[] | ((batch: ExecuteBatch, call: number) => Script | ScriptStep[]);
  /** Clock for `delayMs` steps (default `realClock`). */
  clock?: Clock;
  /**
   * How chunks are paced when no delay is scripted: `'microtask'` (fastest) or `'macrotask'`
   * (a `setImmediate` turn between chunks, like a producer fed by I/O). Default `'macrotask'`.
   */
  pacing?: 'microtask' | 'macrotask';
  /**
   * How the stream is fed: `'generator'` (an async generator, `RunHandle.streaming`) or `'push'`
   * (a producer pushing into `RunHandle.pushable`, waiting on `ready()` at the high-water mark,
   * like a callback-driven runner). Default `'generator'`.
   */
  source?: 'generator' | 'push';
  /** High-water mark of the push source (default that of `RunHandle.pushable`). */
  highWaterMark?: number;
  /** Default `'custom:scripted'`. */
  runtimeKind?: RuntimeKind;
  /** Default `{ kind: 'local', device: 'cpu' }`. */
  transportKind?: TransportKind;
  /** Returned by `rateLimits()`. */
  rateLimits?: RateLimits;
  /** Returned by `estimateCostUsd()` (default `undefined` = unknown). */
  estimatedCostUsd?: number;
  /** Make `rebuildSession` reject with this (for causes that concern this runner's transport). */
  rebuildError?: unknown;
  /**
   * What the runner declares (and therefore accepts; undeclared features are refused with
   * `bad_request` like a real runner). Default: tools, responseFormat, images and penalties, which
   * the script's output stands in for; `continuation` and `tokenIds` only when given here.
   */
  capabilities?: RunnerCapabilities;
}

const DEFAULT_CAPABILITIES: RunnerCapabilities = Object.freeze({ tools: true, responseFormat: true, images: true, penalties: true });

/**
 * A `ModelRunner` test double: scripted chunks, delays, failures before or mid-stream. Validates
 * batches like a real runner (`bad_request`), honours cancel and abort signals, and records what
 * happened (`calls`, `cancellations`, `produced`, `rebuilds`, `active`).
 */
export class ScriptedRunner implements ModelRunner {
  /** Batches passed to `execute`, in order. */
  readonly calls: ExecuteBatch[];
  /** Cancel-hook invocations. */
  cancellations: number;
  /** Chunks produced by all streams (stops growing when a stream is cancelled). */
  produced: number;
  /** Streams still producing. */
  active: number;
  /** Causes passed to `rebuildSession`, in order (also those that do not concern this runner). */
  readonly rebuilds: SessionRebuildCause[];
  /** Whether `close()` was called. */
  closed: boolean;
  private readonly options: ScriptedRunnerOptions;
  private readonly clock: Clock;

  constructor(options: ScriptedRunnerOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.calls = [];
    this.cancellations = 0;
    this.produced = 0;
    this.active = 0;
    this.rebuilds = [];
    this.closed = false;
  }

  runtimeKind(): RuntimeKind {
    return this.options.runtimeKind ?? 'custom:scripted';
  }
  transportKind(): TransportKind {
    return this.options.transportKind ?? { kind: 'local', device: 'cpu' };
  }
  rateLimits(): RateLimits | undefined {
    return this.options.rateLimits;
  }
  estimateCostUsd(): number | undefined {
    return this.options.estimatedCostUsd;
  }
  capabilities(): RunnerCapabilities {
    return this.options.capabilities ?? DEFAULT_CAPABILITIES;
  }
  async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    this.rebuilds.push(cause);
    if (this.closed) throw closedError();
    if (!rebuildCauseApplies(cause, this.transportKind())) return;
    if (this.options.rebuildError !== undefined) throw this.options.rebuildError;
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    validateBatch(batch, { label: 'ScriptedRunner', capabilities: this.capabilities() });
    if (this.closed) throw closedError(batch.requestId);
    this.calls.push(batch);
    const call = this.calls.length;
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, batch.requestId);
    const raw = this.options.script;
    const s = raw === undefined ? defaultScript(batch) : typeof raw === 'function' ? raw(batch, call) : raw;
    const script: Script = Array.isArray(s) ? { steps: s } : s;
    if (script.executeDelayMs !== undefined) await sleep(this.clock, script.executeDelayMs, signal);
    if (script.executeError !== undefined) throw script.executeError;
    const macrotask = (this.options.pacing ?? 'macrotask') === 'macrotask';
    const requestId = batch.requestId;
    const clock = this.clock;
    const self = this;
    const chunkOf = (step: Exclude<ScriptStep, { delayMs: number } | { error: unknown }>): TokenChunk => {
      if ('text' in step) return { requestId, textDelta: step.text };
      if ('finish' in step) {
        const chunk: TokenChunk = { requestId, textDelta: '', finishReason: step.finish };
        if (step.usage !== undefined) chunk.usage = step.usage;
        if (step.costUsd !== undefined) chunk.costUsd = step.costUsd;
        return chunk;
      }
      return { requestId, textDelta: '', ...step.chunk };
    };
    if (this.options.source === 'push') {
      const { handle, controller } = RunHandle.pushable(() => this.cancellations++, {
        signal,
        requestId,
        highWaterMark: this.options.highWaterMark,
      });
      const handleSignal = controller.signal;
      const push = async (): Promise<void> => {
        self.active++;
        try {
          for (const step of script.steps) {
            if (handleSignal.aborted) return;
            if ('delayMs' in step) {
              try {
                await sleep(clock, step.delayMs, handleSignal);
              } catch {
                return;
              }
              continue;
            }
            if ('error' in step) {
              controller.fail(step.error);
              return;
            }
            const chunk = chunkOf(step);
            if (macrotask) await new Promise<void>((r) => setImmediate(r));
            if (handleSignal.aborted) return;
            self.produced++;
            if (!controller.push(chunk) && !(await controller.ready())) return;
          }
          controller.end();
        } finally {
          self.active--;
        }
      };
      void push();
      return handle;
    }
    async function* produce(handleSignal: AbortSignal): AsyncGenerator<TokenChunk> {
      self.active++;
      try {
        for (const step of script.steps) {
          if (handleSignal.aborted) return;
          if ('delayMs' in step) {
            try {
              await sleep(clock, step.delayMs, handleSignal);
            } catch {
              return;
            }
            continue;
          }
          if ('error' in step) throw step.error;
          const chunk = chunkOf(step);
          if (macrotask) await new Promise<void>((r) => setImmediate(r));
          if (handleSignal.aborted) return;
          self.produced++;
          yield chunk;
        }
      } finally {
        self.active--;
      }
    }
    return RunHandle.streaming(produce, () => this.cancellations++, { signal, requestId });
  }
}

function closedError(requestId?: string): InferenceError {
  return new InferenceError('cancelled', 'the ScriptedRunner was closed', {
    details: { reason: 'close' },
    ...(requestId !== undefined ? { requestId } : {}),
  });
}

function defaultScript(batch: ExecuteBatch): Script {
  const max = batch.sampling?.maxTokens;
  const n = Math.min(max ?? 8, 256);
  const steps: ScriptStep[] = [];
  for (let i = 0; i < n; i++) steps.push({ text: `tok${i} ` });
  steps.push({
    finish: max !== undefined ? 'length' : 'stop',
    usage: { inputTokens: estimatePromptTokens(batch.messages, batch.tools), outputTokens: n },
  });
  return { steps };
}
