import { describe, expect, it } from 'vitest';
import { isGilPinned } from './is-gil-pinned.js';
import type { RuntimeKind } from './runtime-kind.js';

describe('isGilPinned', () => {
  it('defaults to true for vllm and python:*, false otherwise, and prefers the runner', () => {
    const r = (kind: RuntimeKind, pinned?: boolean) => ({ runtimeKind: () => kind, ...(pinned === undefined ? {} : { gilPinned: () => pinned }) });
    expect(isGilPinned(r('vllm'))).toBe(true);
    expect(isGilPinned(r('python:transformers'))).toBe(true);
    expect(isGilPinned(r('cuda'))).toBe(false);
    expect(isGilPinned(r('openai'))).toBe(false);
    expect(isGilPinned(r('vllm', false))).toBe(false);
  });
});
