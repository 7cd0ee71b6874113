import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { resolveCudaRunnerOptions } from '../src/cuda-runner-options.js';

function kindOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return InferenceError.isInstance(e) ? e.kind : 'not an InferenceError';
  }
}

describe('resolveCudaRunnerOptions', () => {
  test('defaults to auto; INFERKIT_DEVICE overrides the option', () => {
    expect(resolveCudaRunnerOptions({}, {}).device).toBe('auto');
    expect(resolveCudaRunnerOptions({ device: 'cuda' }, {}).device).toBe('cuda');
    expect(resolveCudaRunnerOptions({ device: 'cuda' }, { INFERKIT_DEVICE: 'CPU' }).device).toBe('cpu');
    expect(resolveCudaRunnerOptions({ device: 'cpu' }, { INFERKIT_DEVICE: '' }).device).toBe('cpu');
  });

  test('invalid values fail at construction with bad_request', () => {
    expect(kindOf(() => resolveCudaRunnerOptions({}, { INFERKIT_DEVICE: 'tpu' }))).toBe('bad_request');
    expect(kindOf(() => resolveCudaRunnerOptions({ device: 'gpu' as 'cuda' }, {}))).toBe('bad_request');
    for (const bad of [0, -1, 1.5, Number.NaN, '4']) {
      expect(kindOf(() => resolveCudaRunnerOptions({ threads: bad as number }, {}))).toBe('bad_request');
      expect(kindOf(() => resolveCudaRunnerOptions({ maxBatch: bad as number }, {}))).toBe('bad_request');
      expect(kindOf(() => resolveCudaRunnerOptions({ maxSeqLen: bad as number }, {}))).toBe('bad_request');
    }
    expect(resolveCudaRunnerOptions({ threads: 2, maxBatch: 4, maxSeqLen: 128 }, {})).toMatchObject({ threads: 2, maxBatch: 4, maxSeqLen: 128 });
  });
});
