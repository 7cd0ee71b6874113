import {
  InferenceError,
  RunHandle,
  RunnerOptions,
  StopSequenceMatcher,
  messageText,
  rebuildCauseApplies,
  validateBatch,
  type ExecuteBatch,
  type ExecuteOptions,
  type Message,
  type ModelRunner,
  type RunnerCapabilities,
  type RunnerFactory,
  type RuntimeKind,
  type SessionRebuildCause,
  type TokenChunk,
  type TransportKind,
} from '@inferkit/inference-core';

/** Options of `new EchoRunner(options)` and `runnerFactory.create(options)`. */
export interface EchoRunnerOptions {
  /** Text put before the echoed message (default `'You said:'`). */
  prefix?: string;
  /**
   * Waits before each word, in milliseconds (default 0: yield to the event loop only). Real
   * runners wait on their engine here; a delay makes cancellation visible in demos.
   */
  wordDelayMs?: number;
}

const PROVIDER = 'echo';
const OPTION_KEYS = ['prefix', 'wordDelayMs'] as const;
// The echo "model" can continue an assistant message it started: that is all `continuation` asks.
const CAPABILITIES: RunnerCapabilities = Object.freeze({ continuation: true });

function lastUserText(messages: Message[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') return messageText(m.content, `messages[${i}].content`);
  }
  return '';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function closedError(requestId?: string): InferenceError {
  return new InferenceError('cancelled', 'the EchoRunner was closed', {
    details: { reason: 'close' },
    provider: PROVIDER,
    ...(requestId !== undefined ? { requestId } : {}),
  });
}

/**
 * A complete `ModelRunner` with a trivial "model": it answers with the last user message, one
 * word per token. Everything around the model is what a real plugin needs, built from the core's
 * shared pieces: options read with `RunnerOptions` (unknown keys refused), requests checked with
 * `validateBatch` against the declared capabilities, streaming through `RunHandle.streaming`,
 * `maxTokens` and stop strings (`StopSequenceMatcher`, which holds back a stop string split
 * across chunks), continuation of a `prefix` message, usage on the final chunk, cancellation
 * through the handle and the caller's signal, and the lifecycle (`rebuildSession`, a final
 * `close`). Copy it and replace `words()` with your engine.
 */
export class EchoRunner implements ModelRunner {
  private readonly prefix: string;
  private readonly wordDelayMs: number;
  private closed: boolean;
  /** Requests streaming right now; `close()` cancels them. */
  private readonly live: Set<RunHandle>;

  /** @throws InferenceError (`bad_request` naming the option) for invalid or unknown options. */
  constructor(options?: EchoRunnerOptions) {
    const o = new RunnerOptions(options, 'EchoRunner', OPTION_KEYS);
    this.prefix = o.string('prefix') ?? 'You said:';
    this.wordDelayMs = o.number('wordDelayMs', { min: 0 }) ?? 0;
    this.closed = false;
    this.live = new Set();
  }

  runtimeKind(): RuntimeKind {
    return 'custom:echo';
  }

  transportKind(): TransportKind {
    return { kind: 'local', device: 'cpu' };
  }

  gilPinned(): boolean {
    return false;
  }

  capabilities(): RunnerCapabilities {
    return CAPABILITIES;
  }

  async execute(batch: ExecuteBatch, options: ExecuteOptions = {}): Promise<RunHandle> {
    validateBatch(batch, { label: 'EchoRunner', capabilities: CAPABILITIES });
    const { requestId } = batch;
    if (this.closed) throw closedError(requestId);
    if (options.signal?.aborted) throw new InferenceError('cancelled', 'aborted before the request started', { requestId, provider: PROVIDER });

    const answer = `${this.prefix} ${lastUserText(batch.messages)}`.split(/\s+/).filter((w) => w.length > 0);
    // A continuation resumes after the words the assistant message already holds.
    const last = batch.messages[batch.messages.length - 1]!;
    const already = last.prefix === true ? messageText(last.content, `messages[${batch.messages.length - 1}].content`).split(/\s+/).filter((w) => w.length > 0).length : 0;
    const words = answer.slice(already);
    const max = batch.sampling?.maxTokens;
    const stops = new StopSequenceMatcher(batch.sampling?.stop ?? []);
    const inputTokens = batch.messages.reduce((n, m, i) => n + messageText(m.content, `messages[${i}].content`).split(/\s+/).filter(Boolean).length, 0);
    const delay = this.wordDelayMs;
    const live = this.live;
    let handle: RunHandle;
    async function* produce(signal: AbortSignal): AsyncGenerator<TokenChunk> {
      let produced = 0;
      try {
        for (let i = 0; i < words.length; i++) {
          if (max !== undefined && produced === max) {
            yield { requestId, textDelta: stops.flush(), finishReason: 'length', usage: { inputTokens, outputTokens: produced } };
            return;
          }
          if (delay > 0) await sleep(delay, signal);
          else await new Promise<void>((r) => setImmediate(r));
          if (signal.aborted) return;
          produced++;
          const { text, stopped } = stops.push(i === 0 && already === 0 ? words[i]! : ` ${words[i]}`);
          if (stopped) {
            // Stop strings end the output before the stop text, as OpenAI does.
            yield { requestId, textDelta: text, finishReason: 'stop', rawFinishReason: 'stop_string', usage: { inputTokens, outputTokens: produced } };
            return;
          }
          if (text !== '') yield { requestId, textDelta: text };
        }
        yield { requestId, textDelta: stops.flush(), finishReason: 'stop', usage: { inputTokens, outputTokens: produced } };
      } finally {
        live.delete(handle);
      }
    }
    handle = RunHandle.streaming((signal) => produce(signal), undefined, { requestId, signal: options.signal });
    live.add(handle);
    return handle;
  }

  /** Nothing to rebuild for an in-process echo; a real runner reconnects or reloads here. */
  async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    if (this.closed) throw closedError();
    if (!rebuildCauseApplies(cause, this.transportKind())) return; // e.g. remote_auth_failure: not ours
  }

  /** Cancels streaming requests; later `execute` calls fail with `cancelled`. Final. */
  async close(): Promise<void> {
    this.closed = true;
    for (const h of this.live) h.cancel(closedError());
    this.live.clear();
  }
}

/** The registry entry a gateway config (`"runner": "@inferkit/example-custom-runner"`) loads. */
export const runnerFactory: RunnerFactory<EchoRunnerOptions | undefined> = {
  kind: 'custom:echo',
  create: (options) => new EchoRunner(options),
};
