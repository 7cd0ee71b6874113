/**
 * Issue #11.1, memory: runs in a worker with a 256 MB heap (vitest.config.ts, project `heap`).
 * A 60 MB frame nesting 10 million levels, parsed as it came, becomes ten million nested objects:
 * before the nesting bound this process died with "JavaScript heap out of memory" (a fatal error,
 * no exception to catch). Now the frame is refused from its bytes.
 */
import { InferenceError } from '@inferkit/inference-core';
import { afterEach, expect, test } from 'vitest';
import { PythonRunner } from './python-runner.js';
import { hostileOptions } from './__testing__/scripted-engine.js';

const runners: PythonRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

test('hostile deep-json 10000000: a 60 MB frame nesting 10 million levels cannot exhaust the host heap', async () => {
  const r = new PythonRunner(hostileOptions());
  runners.push(r);
  const handle = await r.execute({
    requestId: 'bomb', model: 'hostile', messages: [{ role: 'user', content: 'deep-json 10000000' }], sampling: {}, stream: true, estimatedTokens: 4,
  });
  let err: unknown;
  try {
    await handle.collect();
  } catch (e) {
    err = e;
  }
  expect(InferenceError.isInstance(err) && err.kind === 'runtime_crashed').toBe(true);
  expect((err as InferenceError).message).toMatch(/nests deeper than 32 levels/);
}, 60_000);
