// Compiled by src/type-tests.test.ts under `exactOptionalPropertyTypes` (the strictest setting a
// plugin author may use): what the README tells plugin authors to write must type-check there.
import {
  RunHandle,
  supervise,
  type ExecuteBatch,
  type ExecuteOptions,
  type ModelRunner,
  type RunnerCapabilities,
  type RunnerFactory,
  type TokenChunk,
} from '@inferkit/inference-core';

async function* chunks(requestId: string, signal: AbortSignal): AsyncGenerator<TokenChunk> {
  if (signal.aborted) return;
  yield { requestId, textDelta: 'hi', finishReason: 'stop' };
}

export class TypeTestRunner implements ModelRunner {
  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    const requestId = batch.requestId;
    // The README's line: `options?.signal` is `AbortSignal | undefined` here.
    return RunHandle.streaming((signal) => chunks(requestId, signal), undefined, { signal: options?.signal, requestId });
  }
  async rebuildSession(): Promise<void> {}
  runtimeKind() {
    return 'custom:type-test' as const;
  }
  transportKind() {
    return { kind: 'local', device: 'cpu' } as const;
  }
  capabilities(): RunnerCapabilities {
    return { continuation: true };
  }
}

// Fields with defaults are optional.
export const supervised = supervise(new TypeTestRunner(), { retry: { maxRetries: 1 } });

// `sampling` may be left out: all its fields are optional.
export const batch: ExecuteBatch = {
  requestId: 'r1',
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Once', prefix: true }],
  stream: true,
  estimatedTokens: 8,
};

export const factory: RunnerFactory<{ label?: string }> = {
  kind: 'custom:type-test',
  create: () => new TypeTestRunner(),
};
