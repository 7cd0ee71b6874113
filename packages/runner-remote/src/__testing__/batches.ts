import { InferenceError, type ExecuteBatch, type RunHandle, type TokenChunk } from '@inferkit/inference-core';
import type { RemoteRunner } from '../remote-runner.js';
import { waitFor } from './mock-server.js';

let counter = 0;

/** A minimal valid batch; override what the test is about. */
export function batch(overrides: Partial<ExecuteBatch> = {}): ExecuteBatch {
  counter++;
  return {
    requestId: `req-${counter}`,
    model: 'gpt-4o-2024-08-06',
    messages: [{ role: 'user', content: 'Hello' }],
    sampling: {},
    stream: true,
    estimatedTokens: 100,
    ...overrides,
  };
}

/** Reads a handle to the end, keeping what arrived before an error. */
export async function drain(handle: RunHandle): Promise<{ chunks: TokenChunk[]; error: InferenceError | undefined }> {
  const chunks: TokenChunk[] = [];
  try {
    for await (const c of handle) chunks.push(c);
    return { chunks, error: undefined };
  } catch (e) {
    if (!InferenceError.isInstance(e)) throw e;
    return { chunks, error: e };
  }
}

/** Waits until the runner's pool has nothing in flight (no request holds a socket). */
export async function expectIdle(runner: RemoteRunner): Promise<void> {
  await waitFor(() => {
    const s = runner.connectionStats();
    return s.running === 0 && s.pending === 0 && s.queued === 0 && s.activeCalls === 0;
  }, 2000, 'pool to become idle');
}
