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
    h.observe({ type: 'rebuild_started', error: new InferenceError('runtime_crashed', 'x') });
    expect(h.snapshot()).toEqual({ state: 'rebuilding', reason: 'runtime_crashed' });
    // Failures during the rebuild do not override it; its own outcome decides.
    h.recordFailure(new InferenceError('runtime_crashed', 'y'));
    expect(h.snapshot().state).toBe('rebuilding');
    h.observe({ type: 'rebuild_finished', error: new InferenceError('internal', 'driver reset failed') });
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'internal' });
    h.observe({ type: 'rebuild_started', error: undefined });
    h.observe({ type: 'rebuild_finished', error: undefined });
    expect(h.snapshot()).toEqual({ state: 'ready' });
    h.observe({ type: 'rebuild_gave_up', error: new InferenceError('runtime_crashed', 'x') });
    expect(h.snapshot()).toEqual({ state: 'down', reason: 'rebuilds_gave_up' });
    h.observe({ type: 'request_start' });
    expect(h.snapshot().state).toBe('down');
    expect(seen.map(([now]) => now.state)).toEqual(['down', 'rebuilding', 'down', 'rebuilding', 'ready', 'down']);
  });

  test('loading and failed are left only by the weights: requests and rebuilds do not change them', () => {
    const h = new ModelHealth();
    h.loading();
    h.recordFailure(new InferenceError('runtime_crashed', 'x'));
    h.observe({ type: 'rebuild_finished', error: undefined });
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
