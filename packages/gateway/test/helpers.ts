import OpenAI from 'openai';
import {
  InferenceError,
  RunHandle,
  type ExecuteBatch,
  type ExecuteOptions,
  type ModelRunner,
  type RunnerCapabilities,
  type RuntimeKind,
  type TokenChunk,
  type TransportKind,
} from '@inferkit/inference-core';
import { createGateway, type Gateway, type GatewayLogRecord, type GatewayOptions } from '../src/index.js';

/** What a `StepRunner` does for one request. */
export type Step =
  | { kind: 'chunks'; chunks: Array<Omit<TokenChunk, 'requestId'>> }
  /** Refuse at `execute()` with this error. */
  | { kind: 'reject'; error: InferenceError }
  /** Emit `chunks`, then throw `error` from the stream. */
  | { kind: 'fail_after'; chunks: Array<Omit<TokenChunk, 'requestId'>>; error: InferenceError }
  /** Emit `chunks`, then wait until cancelled. */
  | { kind: 'hang_after'; chunks: Array<Omit<TokenChunk, 'requestId'>> };

/**
 * A runner that plays one step per request and records what it saw: the batches, and the
 * cancel reasons its handles received. Lets a test wait for a cancel without sleeping.
 */
export class StepRunner implements ModelRunner {
  readonly batches: ExecuteBatch[] = [];
  readonly cancels: string[] = [];
  private readonly steps: (batch: ExecuteBatch) => Step;
  private cancelWaiters: Array<() => void> = [];
  private startWaiters: Array<() => void> = [];

  private readonly caps: RunnerCapabilities;

  /** `capabilities`: what it declares (default: tools, response formats, images, penalties). */
  constructor(steps: Step | ((batch: ExecuteBatch) => Step), capabilities: RunnerCapabilities = { tools: true, responseFormat: true, images: true, penalties: true }) {
    this.steps = typeof steps === 'function' ? steps : () => steps;
    this.caps = capabilities;
  }

  /** Resolves once some handle has been cancelled. */
  nextCancel(): Promise<void> {
    if (this.cancels.length > 0) return Promise.resolve();
    return new Promise((r) => this.cancelWaiters.push(r));
  }

  /** Resolves once `execute()` has been called `n` times. */
  started(n = 1): Promise<void> {
    if (this.batches.length >= n) return Promise.resolve();
    return new Promise((r) => {
      const check = (): void => {
        if (this.batches.length >= n) r();
        else this.startWaiters.push(check);
      };
      this.startWaiters.push(check);
    });
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    this.batches.push(batch);
    const waiters = this.startWaiters;
    this.startWaiters = [];
    for (const w of waiters) w();
    const step = this.steps(batch);
    if (step.kind === 'reject') throw step.error;
    const id = batch.requestId;
    async function* source(signal: AbortSignal): AsyncGenerator<TokenChunk> {
      for (const c of step.kind === 'reject' ? [] : step.chunks) yield { requestId: id, ...c };
      if (step.kind === 'fail_after') throw step.error;
      if (step.kind === 'hang_after') {
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    }
    return RunHandle.streaming(
      (signal) => source(signal),
      (reason) => {
        this.cancels.push(reason.message);
        const w = this.cancelWaiters;
        this.cancelWaiters = [];
        for (const f of w) f();
      },
      { requestId: id, ...(options?.signal !== undefined ? { signal: options.signal } : {}) },
    );
  }

  async rebuildSession(): Promise<void> {}
  runtimeKind(): RuntimeKind {
    return 'custom:step';
  }
  capabilities(): RunnerCapabilities {
    return this.caps;
  }
  transportKind(): TransportKind {
    return { kind: 'local', device: 'cpu' };
  }
}

export interface Harness {
  gateway: Gateway;
  baseURL: string;
  origin: string;
  client: OpenAI;
  /** What the gateway logged (unless the options bring their own logger). */
  logs: GatewayLogRecord[];
  close(): Promise<void>;
}

/** Starts a gateway on a free loopback port with an openai client pointed at it (no retries). */
export async function startGateway(options: GatewayOptions, apiKey = 'unused'): Promise<Harness> {
  const logs: GatewayLogRecord[] = [];
  const gateway = createGateway({ shutdownGraceMs: 0, logger: (r) => logs.push(r), ...options });
  const addr = await gateway.listen({ port: 0, host: '127.0.0.1' });
  const origin = `http://127.0.0.1:${addr.port}`;
  const client = new OpenAI({ baseURL: `${origin}/v1`, apiKey, maxRetries: 0 });
  return { gateway, baseURL: `${origin}/v1`, origin, client, logs, close: () => gateway.close() };
}

export function text(t: string): Omit<TokenChunk, 'requestId'> {
  return { textDelta: t };
}

/**
 * Polls `condition` until it holds or `ms` have passed. A deadline, not a number of turns: on a
 * loaded machine a socket's close can take longer than any fixed count of event-loop turns.
 */
export async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}
