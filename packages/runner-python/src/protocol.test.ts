import { describe, expect, test } from 'vitest';
import { FrameError } from './frame-codec.js';
import { parseAliveFrame, parseWorkerFrame } from './protocol.js';

describe('parseWorkerFrame', () => {
  test('accepts every worker frame type', () => {
    const frames = [
      { type: 'delta', id: '1', text: 'a', tokens: 1 },
      { type: 'delta', id: '1', text: '', tokens: 0, finishReason: 'length', usage: { outputTokens: 4, inputTokens: 2, cachedTokens: 0 } },
      { type: 'error', id: '1', error: { kind: 'bad_request', message: 'x' } },
      { type: 'error', error: { kind: 'runtime_crashed', message: 'x' }, fatal: true },
      { type: 'aborted', id: '1' },
      { type: 'pong', nonce: 1, inFlight: 0, healthy: true, stats: {} },
    ];
    for (const frame of frames) expect(parseWorkerFrame(frame)).toBe(frame);
  });

  test('a ready frame is rebuilt from the fields the runner reads; capabilities keep known names set to true', () => {
    const ready = parseWorkerFrame({
      type: 'ready', protocol: 2, pid: 3, python: '3.12.1', extra: { deep: [1] },
      engine: { name: 'vllm', model: 'm', maxContext: 8, chatTemplate: true, device: null, capabilities: { continuation: true, tools: false, tokenIds: true } },
    });
    expect(ready).toEqual({
      type: 'ready', protocol: 2, pid: 3, python: '3.12.1',
      engine: { name: 'vllm', model: 'm', maxContext: 8, chatTemplate: true, device: null, capabilities: { continuation: true } },
    });
    const bare = parseWorkerFrame({ type: 'ready', protocol: 2, pid: 3, engine: { name: 'x', chatTemplate: false } });
    expect(bare).toMatchObject({ engine: { model: null, maxContext: null, device: null, capabilities: {} } });
  });

  test.each([
    [[], /not an object/],
    [{ type: 'generate', id: '1' }, /unknown worker frame type "generate"/],
    [{ type: 'delta', id: 1, text: 'a', tokens: 1 }, /malformed delta frame from the worker: id/],
    [{ type: 'delta', id: 'x'.repeat(21), text: 'a', tokens: 1 }, /id/],
    [{ type: 'delta', id: '1', text: 5, tokens: 1 }, /text/],
    [{ type: 'delta', id: '1', text: 'a' }, /tokens/],
    [{ type: 'delta', id: '1', text: 'a', tokens: -1 }, /tokens/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1.5 }, /tokens/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1, finishReason: 'done' }, /finishReason "done"/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1, finishReason: 'stop', usage: {} }, /usage/],
    [{ type: 'delta', id: '1', text: 'a', tokens: 1, finishReason: 'stop', usage: { outputTokens: 1, inputTokens: 'many' } }, /usage/],
    [{ type: 'error', id: '1' }, /error/],
    [{ type: 'error', id: '1', error: {}, fatal: 'yes' }, /fatal/],
    [{ type: 'aborted' }, /id/],
    [{ type: 'pong', nonce: 1 }, /nonce\/inFlight\/healthy/],
    [{ type: 'pong', nonce: 1, inFlight: 0, healthy: true, stats: [] }, /stats/],
    [{ type: 'ready', protocol: 1, pid: 1, engine: { name: 'x' } }, /engine/],
    [{ type: 'ready', protocol: 2, pid: 1, engine: { name: 'x', chatTemplate: true, capabilities: { teleport: true } } }, /capabilities\.teleport/],
    [{ type: 'ready', protocol: 2, pid: 1, engine: { name: 'x', chatTemplate: true, capabilities: { tools: 'yes' } } }, /capabilities\.tools/],
    [{ type: 'ready', protocol: 2, pid: 1, engine: { name: 'x', chatTemplate: true, maxContext: -4 } }, /maxContext/],
  ])('rejects %j', (frame, message) => {
    expect(() => parseWorkerFrame(frame)).toThrow(FrameError);
    expect(() => parseWorkerFrame(frame)).toThrow(message);
  });
});

test('what a hostile worker sent is quoted in errors only in part', () => {
  let message = '';
  try {
    parseWorkerFrame({ type: 'x'.repeat(10_000) });
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message.startsWith('unknown worker frame type "xxxx')).toBe(true);
  expect(message.length).toBeLessThan(120);
});

describe('parseAliveFrame', () => {
  test('accepts an answer and rejects anything else', () => {
    const alive = { type: 'alive', nonce: 3, loopLagMs: 0 };
    expect(parseAliveFrame(alive)).toBe(alive);
    expect(() => parseAliveFrame({ type: 'pong', nonce: 3 })).toThrow(FrameError);
    expect(() => parseAliveFrame({ type: 'alive', nonce: 3, loopLagMs: -1 })).toThrow(/loopLagMs/);
    expect(() => parseAliveFrame({ type: 'alive', nonce: 'x', loopLagMs: 0 })).toThrow(FrameError);
  });
});
