import { describe, expect, test } from 'vitest';
import { InferenceError } from './inference-error.js';
import { RunnerOptions } from './runner-options.js';

function badParam(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(InferenceError.isInstance(e) && e.kind).toBe('bad_request');
    return (e as InferenceError<'bad_request'>).details.param;
  }
  return undefined;
}

describe('RunnerOptions', () => {
  test('unknown keys are refused, naming the key and listing the known ones', () => {
    try {
      new RunnerOptions({ thread: 2 }, 'CudaRunner', ['threads', 'device']);
      expect.unreachable();
    } catch (e) {
      expect((e as InferenceError<'bad_request'>).details.param).toBe('thread');
      expect((e as Error).message).toBe("CudaRunner: unknown option 'thread' (known: device, threads)");
    }
  });

  test('options must be an object or undefined', () => {
    expect(badParam(() => new RunnerOptions(42, 'X', []))).toBe('options');
    expect(badParam(() => new RunnerOptions([], 'X', []))).toBe('options');
    expect(new RunnerOptions(undefined, 'X', ['a']).integer('a')).toBeUndefined();
  });

  test('each getter checks its type and range', () => {
    const o = new RunnerOptions({ n: 3, f: 1.5, s: 'cuda:1', b: true, e: 'queue', a: ['x'], fn: () => 1, obj: {} }, 'X', ['n', 'f', 's', 'b', 'e', 'a', 'fn', 'obj']);
    expect(o.integer('n', { min: 1, max: 4 })).toBe(3);
    expect(badParam(() => o.integer('n', { min: 4 }))).toBe('n');
    expect(badParam(() => o.integer('f'))).toBe('f');
    expect(o.number('f', { min: 0 })).toBe(1.5);
    expect(o.string('s', { pattern: /^cuda:\d+$/ })).toBe('cuda:1');
    expect(badParam(() => o.string('s', { pattern: /^cpu$/, describe: "'cpu'" }))).toBe('s');
    expect(o.boolean('b')).toBe(true);
    expect(badParam(() => o.boolean('n'))).toBe('n');
    expect(o.oneOf('e', ['queue', 'reject'] as const)).toBe('queue');
    expect(badParam(() => o.oneOf('e', ['reject'] as const))).toBe('e');
    expect(o.stringArray('a')).toEqual(['x']);
    expect(typeof o.fn('fn')).toBe('function');
    expect(o.object('obj')).toEqual({});
    expect(badParam(() => o.object('a'))).toBe('a');
  });
});
