import { afterEach, describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { createGateway, MAX_CHARS_PER_TOKEN } from '../src/index.js';
import { StepRunner, startGateway, text, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const USER = [{ role: 'user' as const, content: 'x' }];
const TOOLS = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];

async function post(body: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${h!.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

describe("the runner's capabilities (capabilitiesOf + validateBatch)", () => {
  const plain = (): StepRunner => new StepRunner({ kind: 'chunks', chunks: [text('ok')] }, {});
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['tools', { tools: TOOLS }, 'tools'],
    ['response_format json_schema', { response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } } }, 'response_format'],
    ['response_format json_object', { response_format: { type: 'json_object' } }, 'response_format'],
    ['an image part', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }, 'messages[0].content[0]'],
    ['a presence penalty', { presence_penalty: 0.5 }, 'presence_penalty'],
    ['a frequency penalty', { frequency_penalty: -1 }, 'frequency_penalty'],
    ['a repetition penalty', { repetition_penalty: 1.2 }, 'repetition_penalty'],
  ];
  for (const [name, extra, param] of cases) {
    test(`${name} on a runner without that capability → 400 unsupported_parameter naming ${param}`, async () => {
      const runner = plain();
      h = await startGateway({ models: { m: { runner } } });
      const r = await post({ model: 'm', messages: USER, ...extra });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_parameter', param });
      expect(r.json.error.message).toContain("model 'm'");
      expect(runner.batches).toHaveLength(0);
    });
  }

  test('zero penalties (what OpenAI clients send by default) and response_format text pass', async () => {
    const runner = plain();
    h = await startGateway({ models: { m: { runner } } });
    const r = await post({ model: 'm', messages: USER, presence_penalty: 0, frequency_penalty: 0, repetition_penalty: 1, response_format: { type: 'text' } });
    expect(r.status).toBe(200);
    expect(runner.batches).toHaveLength(1);
  });

  test('penalties pass through to a runner that declares them; a repetition penalty of 0 is invalid', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] }, { penalties: true, repetitionPenalty: true });
    h = await startGateway({ models: { m: { runner } } });
    expect((await post({ model: 'm', messages: USER, presence_penalty: 0.5, frequency_penalty: -0.25, repetition_penalty: 1.3 })).status).toBe(200);
    expect(runner.batches[0]!.sampling).toMatchObject({ presencePenalty: 0.5, frequencyPenalty: -0.25, repetitionPenalty: 1.3 });
    const r = await post({ model: 'm', messages: USER, repetition_penalty: 0 });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', param: 'repetition_penalty' });
    expect(runner.batches).toHaveLength(1);
  });

  test('a declared capability passes', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] }, { tools: true });
    h = await startGateway({ models: { m: { runner } } });
    expect((await post({ model: 'm', messages: USER, tools: TOOLS })).status).toBe(200);
    expect(runner.batches[0]!.tools).toEqual([{ name: 'f', parameters: { type: 'object' } }]);
  });

  test('estimatedTokens is the core estimate of the prompt plus max_tokens', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner } } });
    await post({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 50 });
    // 400 characters / 4 + 4 for the message + 50 of output.
    expect(runner.batches[0]!.estimatedTokens).toBe(100 + 4 + 50);
  });
});

describe('prompt size against the model before the runner (#11.7)', () => {
  test('maxPromptChars refuses longer prompts with 413 context_length_exceeded, without calling the runner', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner, maxPromptChars: 1000 } } });
    expect((await post({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(1000) }] })).status).toBe(200);
    const r = await post({ model: 'm', messages: [{ role: 'system', content: 'x'.repeat(600) }, { role: 'user', content: 'y'.repeat(401) }] });
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(r.json.error.message).toContain('1001 characters');
    expect(runner.batches).toHaveLength(1);
  });

  test(`contextTokens refuses prompts that would need more than ${MAX_CHARS_PER_TOKEN} characters per token`, async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner, contextTokens: 100 } } });
    expect((await post({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(100 * MAX_CHARS_PER_TOKEN) }] })).status).toBe(200);
    const r = await post({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(100 * MAX_CHARS_PER_TOKEN + 1) }] });
    expect(r.status).toBe(413);
    expect(r.json.error.message).toContain('context 100 tokens');
    expect(runner.batches).toHaveLength(1);
  });

  test("the window is learned from the runner's first context_length_exceeded (the largest one reported wins)", async () => {
    let max = 64;
    const runner = new StepRunner(() => ({
      kind: 'reject',
      error: new InferenceError('context_length_exceeded', `prompt exceeds ${max} tokens`, { details: { maxContextTokens: max, requestedTokens: 9999 } }),
    }));
    h = await startGateway({ models: { m: { runner } } });
    const big = { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(64 * MAX_CHARS_PER_TOKEN + 1) }] };
    expect((await post(big)).status).toBe(413);
    expect(runner.batches).toHaveLength(1);
    // Known now: refused without asking the runner.
    expect((await post(big)).status).toBe(413);
    expect(runner.batches).toHaveLength(1);
    // A smaller prompt still goes through, and a larger window reported later widens the bound.
    max = 128;
    expect((await post({ model: 'm', messages: USER })).status).toBe(413);
    expect(runner.batches).toHaveLength(2);
    expect((await post(big)).status).toBe(413);
    expect(runner.batches).toHaveLength(3);
  });

  test('tool definitions count as prompt text', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner, maxPromptChars: 200 } } });
    const tools = [{ type: 'function', function: { name: 'f', description: 'd'.repeat(300), parameters: { type: 'object' } } }];
    expect((await post({ model: 'm', messages: USER, tools })).status).toBe(413);
    expect(runner.batches).toHaveLength(0);
  });

  test('createGateway refuses a non-positive contextTokens or maxPromptChars', () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [] });
    expect(() => createGateway({ models: { m: { runner, contextTokens: 0 } } })).toThrow(/contextTokens must be a positive integer/);
    expect(() => createGateway({ models: { m: { runner, maxPromptChars: 1.5 } } })).toThrow(/maxPromptChars must be a positive integer/);
  });
});

describe('request ids', () => {
  test('every chat response carries x-request-id, the id of the completion', async () => {
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [{ textDelta: 'ok', finishReason: 'stop' }] }) } } });
    const r = await post({ model: 'm', messages: USER });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe(r.json.id);
    const bad = await post({ model: 'nope', messages: USER });
    expect(bad.headers.get('x-request-id')).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
  });
});
