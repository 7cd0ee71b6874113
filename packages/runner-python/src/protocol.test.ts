import { describe, expect, test } from 'vitest';
import { FrameError } from './frame-codec.js';
import { parseWorkerFrame } from './protocol.js';

describe('parseWorkerFrame', () => {
  test('accepts every worker frame type', () => {
    const frames = [
      { type: 'ready', protocol: 1, pid: 3, python: '3.12.1', engine: { name: 'vllm', model: 'm', maxContext: 8, chatTemplate: true, device: null } },
      { type: 'delta', id: '1', text: 'a', tokens: 1 },
      { type: 'delta', id: '1', text: '', tokens: 0, finishReason: 'length', usage: { outputTokens: 4, inputTokens: 2 } },
      { type: 'error', id: '1', error: { kind: 'bad_request', message: 'x' } },
      { type: 'error', error: { kind: 'runtime_crashed', message: 'x' }, fatal: true },
      { type: 'aborted', id: '1' },
      { type: 'pong', nonce: 1, inFlight: 0, healthy: true, stats: {} },
    ];
    for (const frame of frames) expect(parseWorkerFrame(frame)).toBe(frame);
  });

  test.each([
    [[], /not an object/],
    [{ type: 'generate', id: '1' }, /unknown worker frame type "generate"/],
    [{ type: 'delta', id: 1, text: 'a', tokens: 1 }, /malformed delta frame from the worker: id/],
    [{ type: 'delta', id: '1', text: 5, tokens: 1 }, /text/],
    [{ type: 'delta', id: '1', text: 'a' }, /tokens/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1, finishReason: 'done' }, /finishReason "done"/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1, finishReason: 'stop', usage: {} }, /usage/],
    [{ type: 'error', id: '1' }, /error/],
    [{ type: 'aborted' }, /id/],
    [{ type: 'pong', nonce: 1 }, /nonce\/inFlight\/healthy/],
    [{ type: 'ready', protocol: 1, pid: 1, engine: { name: 'x' } }, /engine/],
  ])('rejects %j', (frame, message) => {
    expect(() => parseWorkerFrame(frame)).toThrow(FrameError);
    expect(() => parseWorkerFrame(frame)).toThrow(message);
  });
});
