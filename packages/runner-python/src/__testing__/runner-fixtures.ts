/** What the PythonRunner test files share: runners closed after each test, a batch, a typed rejection. */
import { InferenceError, type ExecuteBatch } from '@inferkit/inference-core';
import { afterEach, expect } from 'vitest';
import { PythonRunner } from '../python-runner.js';
import type { PythonRunnerOptions } from '../python-runner-options.js';

/**
 * A `PythonRunner` constructor whose runners are all closed after each test (their workers and
 * process groups included). Call it at the top of a test file: it registers the afterEach hook.
 */
export function runnersClosedAfterEach(): (options: PythonRunnerOptions) => PythonRunner {
  const runners: PythonRunner[] = [];
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.close()));
  });
  return (options) => {
    const r = new PythonRunner(options);
    runners.push(r);
    return r;
  };
}

/** A streamed request for `model`: one user message (`content` as a string), or these messages. */
export function chatBatch(
  model: string,
  requestId: string,
  content: string | ExecuteBatch['messages'],
  sampling: ExecuteBatch['sampling'] = {},
): ExecuteBatch {
  const messages = typeof content === 'string' ? [{ role: 'user' as const, content }] : content;
  return { requestId, model, messages, sampling, stream: true, estimatedTokens: 8 };
}

/** The `InferenceError` `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<InferenceError> {
  try {
    await promise;
  } catch (err) {
    expect(InferenceError.isInstance(err)).toBe(true);
    return err as InferenceError;
  }
  throw new Error('expected an InferenceError');
}
