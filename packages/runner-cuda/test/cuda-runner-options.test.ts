import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { pinnedVisibleDevices, resolveCudaRunnerOptions } from '../src/cuda-runner-options.js';

/** The error kind and named parameter `f` throws with. */
function refusal(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return InferenceError.isInstance(e) ? `${e.kind}:${String((e.details as { param?: unknown }).param)}` : 'not an InferenceError';
  }
}

describe('resolveCudaRunnerOptions', () => {
  test('defaults to auto; INFERKIT_DEVICE overrides the option', () => {
    expect(resolveCudaRunnerOptions({}, {}).device).toBe('auto');
    expect(resolveCudaRunnerOptions(undefined, {}).device).toBe('auto');
    expect(resolveCudaRunnerOptions({ device: 'cuda' }, {}).device).toBe('cuda');
    expect(resolveCudaRunnerOptions({ device: 'cuda' }, { INFERKIT_DEVICE: 'CPU' }).device).toBe('cpu');
    expect(resolveCudaRunnerOptions({ device: 'cpu' }, { INFERKIT_DEVICE: '' }).device).toBe('cpu');
    expect(resolveCudaRunnerOptions({ device: 'cpu' }, { INFERKIT_DEVICE: 'cuda:1' })).toMatchObject({ device: 'cuda', deviceIndex: 1 });
  });

  test("'cuda:N' pins device N; it needs a child process", () => {
    expect(resolveCudaRunnerOptions({ device: 'cuda:0' }, {})).toMatchObject({ device: 'cuda', deviceIndex: 0 });
    expect(resolveCudaRunnerOptions({ device: 'cuda:12', engineProcess: 'child' }, {})).toMatchObject({ device: 'cuda', deviceIndex: 12 });
    expect(resolveCudaRunnerOptions({ device: 'cuda' }, {}).deviceIndex).toBeUndefined();
    for (const bad of ['cuda:', 'cuda:-1', 'cuda:01', 'cuda:1.5', 'cuda:x', 'cuda:1000', 'CUDA:1 ']) {
      expect(refusal(() => resolveCudaRunnerOptions({ device: bad as 'cuda' }, {}))).toBe('bad_request:device');
    }
    expect(refusal(() => resolveCudaRunnerOptions({}, { INFERKIT_DEVICE: 'cuda:-2' }))).toBe('bad_request:device');
    // CUDA fixes the visible devices when it starts in a process: this process cannot pin one.
    expect(refusal(() => resolveCudaRunnerOptions({ device: 'cuda:1', engineProcess: 'in-process' }, {}))).toBe('bad_request:engineProcess');
  });

  test('invalid values and unknown keys fail at construction with bad_request naming the option', () => {
    expect(refusal(() => resolveCudaRunnerOptions({}, { INFERKIT_DEVICE: 'tpu' }))).toBe('bad_request:device');
    expect(refusal(() => resolveCudaRunnerOptions({ device: 'gpu' as 'cuda' }, {}))).toBe('bad_request:device');
    for (const bad of [0, -1, 1.5, Number.NaN, '4']) {
      expect(refusal(() => resolveCudaRunnerOptions({ threads: bad as number }, {}, 64))).toBe('bad_request:threads');
      expect(refusal(() => resolveCudaRunnerOptions({ maxBatch: bad as number }, {}))).toBe('bad_request:maxBatch');
      expect(refusal(() => resolveCudaRunnerOptions({ maxSeqLen: bad as number }, {}))).toBe('bad_request:maxSeqLen');
    }
    expect(refusal(() => resolveCudaRunnerOptions({ maxBatch: 1e9 }, {}))).toBe('bad_request:maxBatch');
    expect(refusal(() => resolveCudaRunnerOptions({ convertAtLoad: 'yes' as unknown as boolean }, {}))).toBe('bad_request:convertAtLoad');
    expect(refusal(() => resolveCudaRunnerOptions({ binaryPath: '' }, {}))).toBe('bad_request:binaryPath');
    expect(refusal(() => resolveCudaRunnerOptions({ engineProcess: 'thread' as 'child' }, {}))).toBe('bad_request:engineProcess');
    expect(refusal(() => resolveCudaRunnerOptions({ thread: 2 } as never, {}))).toBe('bad_request:thread');
    expect(refusal(() => resolveCudaRunnerOptions(42 as never, {}))).toBe('bad_request:options');
    expect(resolveCudaRunnerOptions({ threads: 2, maxBatch: 4, maxSeqLen: 128 }, {}, 2)).toMatchObject({ threads: 2, maxBatch: 4, maxSeqLen: 128 });
  });

  test('threads above the core count are refused (1,000 threads made 8 tokens take 12.5 s)', () => {
    expect(refusal(() => resolveCudaRunnerOptions({ threads: 1000 }, {}, 16))).toBe('bad_request:threads');
    expect(refusal(() => resolveCudaRunnerOptions({ threads: 3 }, {}, 2))).toBe('bad_request:threads');
    expect(resolveCudaRunnerOptions({ threads: 16 }, {}, 16).threads).toBe(16);
    // Without the third argument the limit is this machine's core count.
    expect(refusal(() => resolveCudaRunnerOptions({ threads: 1000 }, {}))).toBe('bad_request:threads');
  });
});

describe('pinnedVisibleDevices', () => {
  test("narrows this process's CUDA_VISIBLE_DEVICES to the pinned entry, or names the index", () => {
    expect(pinnedVisibleDevices(1, {})).toBe('1');
    expect(pinnedVisibleDevices(0, { CUDA_VISIBLE_DEVICES: '' })).toBe('0');
    expect(pinnedVisibleDevices(1, { CUDA_VISIBLE_DEVICES: '3,5' })).toBe('5');
    expect(pinnedVisibleDevices(0, { CUDA_VISIBLE_DEVICES: 'GPU-8c1f, GPU-77aa' })).toBe('GPU-8c1f');
    expect(refusal(() => pinnedVisibleDevices(2, { CUDA_VISIBLE_DEVICES: '3,5' }))).toBe('bad_request:device');
  });
});

describe('convertAtLoad', () => {
  test("is true, false or 'q8_0'", () => {
    expect(resolveCudaRunnerOptions({}, {}).convertAtLoad).toBe(false);
    expect(resolveCudaRunnerOptions({ convertAtLoad: true }, {}).convertAtLoad).toBe(true);
    expect(resolveCudaRunnerOptions({ convertAtLoad: 'q8_0' }, {}).convertAtLoad).toBe('q8_0');
    for (const bad of ['Q8_0', 'f32', 1, null]) {
      expect(refusal(() => resolveCudaRunnerOptions({ convertAtLoad: bad as never }, {}))).toBe('bad_request:convertAtLoad');
    }
  });
});
