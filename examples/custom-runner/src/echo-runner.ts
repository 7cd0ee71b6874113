import {
  InferenceError,
  RunHandle,
  type ExecuteBatch,
  type ExecuteOptions,
  type Message,
  type ModelRunner,
  type RuntimeKind,
  type SessionRebuildCause,
  type TokenChunk,
  type TransportKind,
} from '@inferkit/inference-core';

/** Options of `new EchoRunner(options)`. */
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

function lastUserText(messages: Message[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    return m.content.map((p) => (p.type === 'text' ? p.text : '')).join(' ');
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

/**
 * A complete `ModelRunner` with a trivial "model": it answers with the last user message, one
 * word per token. Everything around the model is what a real plugin needs: input validation
 * with typed errors, streaming through `RunHandle.streaming`, `maxTokens` and stop strings,
 * usage on the final chunk, cancellation through the handle and the caller's signal, and a
 * lifecycle (`rebuildSession`, `close`). Copy it and replace `words()` with your engine.
 */
export class EchoRunner implements ModelRunner {
  private readonly prefix: string;
  private readonly wordDelayMs: number;
  private closed: boolean;
  /** Requests streaming right now; `close()` cancels them. */
  private readonly live: Set<RunHandle>;

  /** @throws InferenceError (`bad_request`) for invalid options, at construction time. */
  constructor(options: EchoRunnerOptions = {}) {
    const delay = options.wordDelayMs ?? 0;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new InferenceError('bad_request', `wordDelayMs must be a non-negative number, got ${String(delay)}`, { details: { param: 'wordDelayMs' } });
    }
    this.prefix = options.prefix ?? 'You said:';
    this.wordDelayMs = delay;
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

  async execute(batch: ExecuteBatch, options: ExecuteOptions = {}): Promise<RunHandle> {
    if (this.closed) throw new InferenceError('bad_request', 'the runner is closed', { requestId: batch?.requestId, provider: PROVIDER });
    if (batch === null || typeof batch !== 'object' || typeof batch.requestId !== 'string') {
      throw new InferenceError('bad_request', 'execute needs an ExecuteBatch with a string requestId', { details: { param: 'requestId' } });
    }
    const { requestId } = batch;
    if (!Array.isArray(batch.messages) || batch.messages.length === 0) {
      throw new InferenceError('bad_request', 'messages must be a non-empty array', { details: { param: 'messages' }, requestId, provider: PROVIDER });
    }
    const max = batch.sampling?.maxTokens;
    if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
      throw new InferenceError('bad_request', `maxTokens must be a positive integer, got ${String(max)}`, {
        details: { param: 'maxTokens' },
        requestId,
        provider: PROVIDER,
      });
    }
    if (options.signal?.aborted) throw new InferenceError('cancelled', 'aborted before the request started', { requestId, provider: PROVIDER });

    const words = `${this.prefix} ${lastUserText(batch.messages)}`.split(/\s+/).filter((w) => w.length > 0);
    const stops = batch.sampling?.stop ?? [];
    const inputTokens = batch.messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.split(/\s+/).length : m.content.length), 0);
    const delay = this.wordDelayMs;
    const live = this.live;
    let handle: RunHandle;
    async function* produce(signal: AbortSignal): AsyncGenerator<TokenChunk> {
      let text = '';
      let produced = 0;
      try {
        for (let i = 0; i < words.length; i++) {
          if (max !== undefined && produced === max) {
            yield { requestId, textDelta: '', finishReason: 'length', usage: { inputTokens, outputTokens: produced } };
            return;
          }
          if (delay > 0) await sleep(delay, signal);
          else await new Promise<void>((r) => setImmediate(r));
          if (signal.aborted) return;
          const piece = i === 0 ? words[i]! : ` ${words[i]}`;
          produced++;
          // Stop strings end the output before the stop text, as OpenAI does.
          const cut = stops.map((s) => (text + piece).indexOf(s)).filter((at) => at >= 0);
          if (cut.length > 0) {
            const end = Math.min(...cut);
            yield { requestId, textDelta: (text + piece).slice(text.length, end), finishReason: 'stop', rawFinishReason: 'stop_string', usage: { inputTokens, outputTokens: produced } };
            return;
          }
          text += piece;
          yield { requestId, textDelta: piece };
        }
        yield { requestId, textDelta: '', finishReason: 'stop', usage: { inputTokens, outputTokens: produced } };
      } finally {
        live.delete(handle);
      }
    }
    handle = RunHandle.streaming((signal) => produce(signal), undefined, { requestId, ...(options.signal ? { signal: options.signal } : {}) });
    live.add(handle);
    return handle;
  }

  /** Nothing to rebuild for an in-process echo; a real runner reconnects or reloads here. */
  async rebuildSession(_cause: SessionRebuildCause): Promise<void> {
    if (this.closed) throw new InferenceError('bad_request', 'the runner is closed', { provider: PROVIDER });
  }

  /** Cancels streaming requests; later `execute` calls fail with `bad_request`. */
  async close(): Promise<void> {
    this.closed = true;
    for (const h of this.live) h.cancel('runner closed');
    this.live.clear();
  }
}
