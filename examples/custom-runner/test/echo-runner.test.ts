import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { InferenceError, supervise, type ExecuteBatch } from '@inferkit/inference-core';
import { runnerConformanceCases, runnerFactoryConformanceCases } from '@inferkit/inference-core/testing';
import { EchoRunner, runnerFactory } from '../src/index.js';

// The contract every runner must meet, from the core kit: streaming shape, usage and finish
// reason, cancellation, abort signals, error typing, rebuildSession, concurrency. A plugin
// registers the same cases with its own factory.
describe('EchoRunner conformance', () => {
  const cases = runnerConformanceCases({
    create: () => new EchoRunner(),
    capabilities: {
      batch: (requestId) => ({
        requestId,
        model: 'echo',
        messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }],
        sampling: { maxTokens: 16 },
        stream: true,
        estimatedTokens: 32,
      }),
    },
  });
  for (const c of cases) test(c.name, c.run);
});

// The registry entry: options validated, unknown keys refused, the parameter named.
describe('EchoRunner runnerFactory conformance', () => {
  const cases = runnerFactoryConformanceCases({
    factory: runnerFactory,
    options: { prefix: 'Echo:' },
    invalid: [
      { options: { wordDelayMs: -1 }, param: 'wordDelayMs' },
      { options: { prefix: 7 }, param: 'prefix' },
    ],
  });
  for (const c of cases) test(c.name, c.run);
});

function batch(content: string, sampling: ExecuteBatch['sampling'] = {}): ExecuteBatch {
  return { requestId: randomUUID(), model: 'echo', messages: [{ role: 'user', content }], sampling, stream: true, estimatedTokens: 16 };
}

describe('EchoRunner behaviour', () => {
  test('echoes the last user message word by word, with usage', async () => {
    const out = await (await new EchoRunner().execute(batch('hello there'))).collect();
    expect(out.text).toBe('You said: hello there');
    expect(out.chunkCount).toBe(5);
    expect(out.finishReason).toBe('stop');
    expect(out.usage).toEqual({ inputTokens: 2, outputTokens: 4 });
  });

  test('maxTokens ends with finish reason length', async () => {
    const out = await (await new EchoRunner().execute(batch('a b c d e f', { maxTokens: 3 }))).collect();
    expect(out.text).toBe('You said: a');
    expect(out.finishReason).toBe('length');
  });

  test('a stop string ends the output before it', async () => {
    const out = await (await new EchoRunner({ prefix: '' }).execute(batch('alpha beta STOP gamma', { stop: ['STOP'] }))).collect();
    expect(out.text).toBe('alpha beta ');
    expect(out.finishReason).toBe('stop');
    expect(out.rawFinishReason).toBe('stop_string');
  });

  test('a stop string split across two words is still found and never emitted', async () => {
    const out = await (await new EchoRunner({ prefix: '' }).execute(batch('alpha beta gamma', { stop: ['a b'] }))).collect();
    expect(out.text).toBe('alph');
    expect(out.finishReason).toBe('stop');
  });

  test('continues an assistant message it started (prefix: true)', async () => {
    const b: ExecuteBatch = {
      ...batch('one two three four'),
      messages: [{ role: 'user', content: 'one two three four' }, { role: 'assistant', content: 'You said: one two', prefix: true }],
    };
    const out = await (await new EchoRunner().execute(b)).collect();
    expect(out.text).toBe(' three four');
  });

  test('an image part is refused, not dropped', async () => {
    const b: ExecuteBatch = { ...batch('x'), messages: [{ role: 'user', content: [{ type: 'image_url', url: 'https://x/y.png' }] }] };
    await expect(new EchoRunner().execute(b)).rejects.toMatchObject({ kind: 'bad_request' });
  });

  test('invalid input is a typed bad_request, at construction or execute', async () => {
    expect(() => new EchoRunner({ wordDelayMs: -1 })).toThrow(InferenceError);
    expect(() => new EchoRunner({ wordDelay: 5 } as never)).toThrow(/unknown option 'wordDelay'/);
    const r = new EchoRunner();
    await expect(r.execute({ ...batch('x'), messages: [] })).rejects.toMatchObject({ kind: 'bad_request' });
    await expect(r.execute(batch('x', { maxTokens: 0 }))).rejects.toMatchObject({ kind: 'bad_request' });
  });

  test('close() cancels streams in flight and refuses new requests', async () => {
    const r = new EchoRunner({ wordDelayMs: 1000 });
    const handle = await r.execute(batch('a long message that will not finish'));
    const it = handle[Symbol.asyncIterator]();
    const first = it.next();
    await r.close();
    await expect(first).rejects.toMatchObject({ kind: 'cancelled' });
    await expect(r.execute(batch('x'))).rejects.toMatchObject({ kind: 'cancelled' });
  });

  test('works under supervise like any runner', async () => {
    const r = supervise(new EchoRunner(), { serving: { maxConcurrent: 1 }, name: 'echo' });
    const out = await (await r.execute(batch('supervised'))).collect();
    expect(out.text).toBe('You said: supervised');
  });
});
