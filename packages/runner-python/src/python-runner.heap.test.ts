/**
 * Issue #11.1, memory: runs in a worker with a 256 MB heap (vitest.config.ts, project `heap`).
 * A 60 MB frame nesting 10 million levels, parsed as it came, becomes ten million nested objects:
 * before the nesting bound this process died with "JavaScript heap out of memory" (a fatal error,
 * no exception to catch). Now the frame is refused from its bytes.
 */
import { InferenceError } from '@inferkit/inference-core';
import { expect, test } from 'vitest';
import { chatBatch, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';
import { hostileOptions } from './__testing__/scripted-engine.js';

const newRunner = runnersClosedAfterEach();

test('hostile deep-json 10000000: a 60 MB frame nesting 10 million levels cannot exhaust the host heap', async () => {
  const r = newRunner(hostileOptions());
  const handle = await r.execute(chatBatch('hostile', 'bomb', 'deep-json 10000000'));
  let err: unknown;
  try {
    await handle.collect();
  } catch (e) {
    err = e;
  }
  expect(InferenceError.isInstance(err) && err.kind === 'runtime_crashed').toBe(true);
  expect((err as InferenceError).message).toMatch(/nests deeper than 32 levels/);
}, 60_000);
