import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { ModelHealth, type ModelHealthSnapshot } from '../src/index.js';

describe('ModelHealth', () => {
  test('engine-down kinds mark it down; other errors do not; a success brings it back', () => {
    const h = new ModelHealth();
    h.recordFailure(new InferenceError('rate_limited', 'x'));
    h.recordFailure(new InferenceError('server_error', 'x'));
    h.recordFailure(new Error('not an InferenceError'));
    expect(h.snapshot()).toEqual({ state: 'ready' });
    h.recordFailure(new InferenceError('cuda_context_poisoned', 'x'));
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'cuda_context_poisoned' });
    h.recordSuccess();
    expect(h.snapshot()).toEqual({ state: 'ready' });
  });

  test("supervise's rebuild events: started → rebuilding, finished → ready or down, gave up → down", () => {
    const h = new ModelHealth();
    const seen: Array<[ModelHealthSnapshot, ModelHealthSnapshot]> = [];
    h.subscribe((now, before) => seen.push([now, before]));
    h.recordFailure(new InferenceError('runtime_crashed', 'x'));
    h.observe({ type: 'rebuild_started', atMs: 0, cause: 'manual', error: new InferenceError('runtime_crashed', 'x') });
    expect(h.snapshot()).toEqual({ state: 'rebuilding', reason: 'runtime_crashed' });
    // Failures during the rebuild do not override it; its own outcome decides.
    h.recordFailure(new InferenceError('runtime_crashed', 'y'));
    expect(h.snapshot().state).toBe('rebuilding');
    h.observe({ type: 'rebuild_finished', atMs: 1, cause: 'manual', durationMs: 1, error: new InferenceError('internal', 'driver reset failed') });
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'internal' });
    h.observe({ type: 'rebuild_started', atMs: 2, cause: 'manual', error: undefined });
    h.observe({ type: 'rebuild_finished', atMs: 3, cause: 'manual', durationMs: 1, error: undefined });
    expect(h.snapshot()).toEqual({ state: 'ready' });
    h.observe({ type: 'rebuild_gave_up', atMs: 4, rebuilds: 3, windowMs: 1000, error: new InferenceError('runtime_crashed', 'x') });
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'rebuilds_gave_up' });
    h.observe({ type: 'request_start', requestId: 'r', atMs: 5 });
    expect(h.snapshot().state).toBe('down');
    expect(seen.map(([now]) => now.state)).toEqual(['down', 'rebuilding', 'down', 'rebuilding', 'ready', 'down']);
  });

  test('a failure reported after a rebuild started is stale: the rebuild decides', () => {
    const h = new ModelHealth();
    const atStart = h.rebuilds();
    // supervise healed the crash while the failed request was still on its way back.
    h.observe({ type: 'rebuild_started', atMs: 0, cause: 'manual', error: new InferenceError('runtime_crashed', 'x') });
    h.observe({ type: 'rebuild_finished', atMs: 1, cause: 'manual', durationMs: 1, error: undefined });
    h.recordFailure(new InferenceError('runtime_crashed', 'x'), atStart);
    expect(h.snapshot()).toEqual({ state: 'ready' });
    expect(h.rebuilds()).toBe(1);
    h.recordFailure(new InferenceError('runtime_crashed', 'x'), h.rebuilds());
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'runtime_crashed' });
  });

  test('loading and failed are left only by the weights: requests and rebuilds do not change them', () => {
    const h = new ModelHealth();
    h.loading();
    h.recordFailure(new InferenceError('runtime_crashed', 'x'));
    h.observe({ type: 'rebuild_finished', atMs: 0, cause: 'manual', durationMs: 1, error: undefined });
    expect(h.snapshot()).toEqual({ state: 'loading' });
    h.loadFailed();
    h.recordSuccess();
    expect(h.snapshot()).toEqual({ state: 'failed', reason: 'load_failed' });
  });

  test('a throwing listener does not stop the others', () => {
    const h = new ModelHealth();
    let called = 0;
    h.subscribe(() => {
      throw new Error('bug');
    });
    h.subscribe(() => called++);
    h.recordFailure(new InferenceError('runtime_crashed', 'x'));
    expect(called).toBe(1);
  });
});
