import { describe, expect, test } from 'vitest';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError } from './inference-error.js';
import { MAX_SCHEMA_DEPTH, validateBatch } from './validate-batch.js';

const ok = (over: Partial<ExecuteBatch> = {}): ExecuteBatch => ({
  requestId: 'r1',
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
  estimatedTokens: 10,
  ...over,
});

function paramOf(batch: unknown, caps?: Parameters<typeof validateBatch>[1]): string | undefined {
  try {
    validateBatch(batch as ExecuteBatch, caps);
  } catch (e) {
    expect(InferenceError.isInstance(e) && e.kind).toBe('bad_request');
    return (e as InferenceError<'bad_request'>).details.param;
  }
  return undefined;
}

function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < depth; i++) v = { type: 'object', properties: { x: v } };
  return v;
}

describe('validateBatch', () => {
  test('a minimal batch passes; sampling may be absent', () => {
    expect(paramOf(ok())).toBeUndefined();
    expect(paramOf(ok({ sampling: { maxTokens: 3, temperature: 0, stop: ['x'], seed: 7, topP: 1, topK: 40 } }))).toBeUndefined();
  });

  test.each([
    ['not an object', null, 'batch'],
    ['empty requestId', { ...ok(), requestId: '' }, 'requestId'],
    ['huge requestId', { ...ok(), requestId: 'x'.repeat(1000) }, 'requestId'],
    ['missing model', { ...ok(), model: undefined }, 'model'],
    ['messages not an array', { ...ok(), messages: 'hi' }, 'messages'],
    ['empty messages', { ...ok(), messages: [] }, 'messages'],
    ['unknown role', ok({ messages: [{ role: 'robot' as 'user', content: 'x' }] }), 'messages[0].role'],
    ['content a number', ok({ messages: [{ role: 'user', content: 5 as unknown as string }] }), 'messages[0].content'],
    ['unknown part type', ok({ messages: [{ role: 'user', content: [{ type: 'audio' } as never] }] }), 'messages[0].content[0].type'],
    ['maxTokens -1', ok({ sampling: { maxTokens: -1 } }), 'sampling.maxTokens'],
    ['maxTokens 1.5', ok({ sampling: { maxTokens: 1.5 } }), 'sampling.maxTokens'],
    ['temperature NaN', ok({ sampling: { temperature: Number.NaN } }), 'sampling.temperature'],
    ['topP 0', ok({ sampling: { topP: 0 } }), 'sampling.topP'],
    ['penalty 3', ok({ sampling: { presencePenalty: 3 } }), 'sampling.presencePenalty'],
    ['repetitionPenalty 0', ok({ sampling: { repetitionPenalty: 0 } }), 'sampling.repetitionPenalty'],
    ['repetitionPenalty -1', ok({ sampling: { repetitionPenalty: -1 } }), 'sampling.repetitionPenalty'],
    ['repetitionPenalty Infinity', ok({ sampling: { repetitionPenalty: Infinity } }), 'sampling.repetitionPenalty'],
    ['stop not strings', ok({ sampling: { stop: [1 as unknown as string] } }), 'sampling.stop'],
    ['tool without parameters', ok({ tools: [{ name: 'f' } as never] }), 'tools[0].parameters'],
    ['duplicate tool names', ok({ tools: [{ name: 'f', parameters: {} }, { name: 'f', parameters: {} }] }), 'tools[1].name'],
    ['toolChoice names a missing tool', ok({ tools: [{ name: 'f', parameters: {} }], toolChoice: { type: 'tool', name: 'g' } }), 'toolChoice'],
    ['required without tools', ok({ toolChoice: 'required' }), 'toolChoice'],
    ['schema without object', ok({ responseFormat: { type: 'json_schema', name: 'n', schema: 3 as never } }), 'responseFormat.schema'],
    ['prefix not last', ok({ messages: [{ role: 'assistant', content: 'a', prefix: true }, { role: 'user', content: 'b' }] }), 'messages[0].prefix'],
    ['prefix on a user message', ok({ messages: [{ role: 'user', content: 'a', prefix: true }] }), 'messages[0].prefix'],
    ['continuationTokenIds without prefix', ok({ continuationTokenIds: [1, 2] }), 'continuationTokenIds'],
    ['estimatedTokens negative', ok({ estimatedTokens: -5 }), 'estimatedTokens'],
  ])('%s → bad_request naming %s', (_, batch, param) => {
    expect(paramOf(batch)).toBe(param);
  });

  test('hostile schema nesting is refused without overflowing the stack', () => {
    const deep = nested(200_000);
    expect(paramOf(ok({ tools: [{ name: 'f', parameters: deep }] }))).toBe('tools[0].parameters');
    expect(paramOf(ok({ responseFormat: { type: 'json_schema', name: 'n', schema: nested(MAX_SCHEMA_DEPTH + 1) } }))).toBe('responseFormat.schema');
    expect(paramOf(ok({ responseFormat: { type: 'json_schema', name: 'n', schema: nested(10) } }))).toBeUndefined();
  });

  test('a cyclic schema is refused instead of looping', () => {
    const a: Record<string, unknown> = { type: 'object' };
    a.self = a;
    expect(paramOf(ok({ tools: [{ name: 'f', parameters: a }] }))).toBe('tools[0].parameters');
  });

  test('undeclared capabilities are refused, declared ones pass; zero penalties always pass', () => {
    const none = { capabilities: {} };
    const image = ok({ messages: [{ role: 'user', content: [{ type: 'image_url', url: 'https://x/y.png' }] }] });
    expect(paramOf(image, none)).toBe('messages[0].content[0]');
    expect(paramOf(image, { capabilities: { images: true } })).toBeUndefined();
    expect(paramOf(ok({ tools: [{ name: 'f', parameters: {} }] }), none)).toBe('tools');
    expect(paramOf(ok({ responseFormat: { type: 'json_object' } }), none)).toBe('responseFormat');
    expect(paramOf(ok({ responseFormat: { type: 'text' } }), none)).toBeUndefined();
    expect(paramOf(ok({ sampling: { presencePenalty: 0.5 } }), none)).toBe('sampling.presencePenalty');
    expect(paramOf(ok({ sampling: { presencePenalty: 0, frequencyPenalty: 0 } }), none)).toBeUndefined();
    expect(paramOf(ok({ sampling: { repetitionPenalty: 1.2 } }), { capabilities: { penalties: true } })).toBe('sampling.repetitionPenalty');
    expect(paramOf(ok({ sampling: { repetitionPenalty: 1.2 } }), { capabilities: { repetitionPenalty: true } })).toBeUndefined();
    expect(paramOf(ok({ sampling: { repetitionPenalty: 1 } }), none)).toBeUndefined();
    const cont = ok({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', prefix: true }], continuationTokenIds: [4] });
    expect(paramOf(cont, none)).toBe('messages[1].prefix');
    expect(paramOf(cont, { capabilities: { continuation: true } })).toBe('continuationTokenIds');
    expect(paramOf(cont, { capabilities: { continuation: true, tokenIds: true } })).toBeUndefined();
  });

  test('the error carries the request id and the label', () => {
    try {
      validateBatch(ok({ sampling: { maxTokens: 0 } }), { label: 'MyRunner' });
      expect.unreachable();
    } catch (e) {
      expect((e as InferenceError).requestId).toBe('r1');
      expect((e as InferenceError).message).toMatch(/^MyRunner: sampling\.maxTokens/);
    }
  });
});
