import { afterEach, describe, expect, test } from 'vitest';
import type OpenAI from 'openai';
import { InferenceError, supervise } from '@inferkit/inference-core';
import { ScriptedRunner } from '@inferkit/inference-core/testing';
import { StepRunner, startGateway, text, until, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const USAGE = { inputTokens: 11, outputTokens: 3 };

function storyRunner(): StepRunner {
  return new StepRunner({
    kind: 'chunks',
    chunks: [text('Once'), text(' upon'), { textDelta: ' a time', usage: USAGE, finishReason: 'stop' }],
  });
}

describe('POST /v1/chat/completions, unary', () => {
  test('returns an OpenAI chat.completion with the runner output and usage', async () => {
    const runner = storyRunner();
    h = await startGateway({ models: { tiny: { runner } } });
    const res = await h.client.chat.completions.create({
      model: 'tiny',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me a story.' },
      ],
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 40,
      stop: ['\n\n'],
      seed: 7,
    });
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(res.model).toBe('tiny');
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]!.message.content).toBe('Once upon a time');
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });

    const batch = runner.batches[0]!;
    expect(batch.requestId).toBe(res.id);
    expect(batch.model).toBe('tiny');
    expect(batch.stream).toBe(false);
    expect(batch.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Tell me a story.' },
    ]);
    expect(batch.sampling).toEqual({ temperature: 0.5, topP: 0.9, maxTokens: 40, stop: ['\n\n'], seed: 7 });
    expect(batch.estimatedTokens).toBeGreaterThan(40);
  });

  test('hands the runner its own model id when runnerModel is set', async () => {
    const runner = storyRunner();
    h = await startGateway({ models: { public: { runner, runnerModel: 'internal-id' } } });
    await h.client.chat.completions.create({ model: 'public', messages: [{ role: 'user', content: 'hi' }] });
    expect(runner.batches[0]!.model).toBe('internal-id');
  });

  test('omits usage when the runner reports none (unknown is not 0)', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [{ textDelta: 'hi', finishReason: 'length' }] });
    h = await startGateway({ models: { m: { runner } } });
    const res = await h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(res.usage).toBeUndefined();
    expect(res.choices[0]!.finish_reason).toBe('length');
  });

  test('converts image parts, developer messages and assistant tool calls', async () => {
    const runner = storyRunner();
    h = await startGateway({ models: { m: { runner } } });
    await h.client.chat.completions.create({
      model: 'm',
      messages: [
        { role: 'developer', content: 'rules' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'look', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'a cat' },
      ],
    });
    expect(runner.batches[0]!.messages).toEqual([
      { role: 'system', content: 'rules' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_base64', mime: 'image/png', data: 'AAAA' },
          { type: 'image_url', url: 'https://example.com/cat.png' },
        ],
      },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'look', arguments: '{}' }] },
      { role: 'tool', content: 'a cat', toolCallId: 'c1' },
    ]);
  });
});

describe('POST /v1/chat/completions, streaming', () => {
  test('streams deltas, a finish chunk, and ends at [DONE]', async () => {
    const runner = storyRunner();
    h = await startGateway({ models: { tiny: { runner } } });
    const stream = await h.client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'story' }],
      stream: true,
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(runner.batches[0]!.stream).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Once upon a time');
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    // No include_usage: no usage chunk.
    expect(chunks.some((c) => c.usage != null)).toBe(false);
  });

  test('stream_options.include_usage adds a final usage chunk with no choices', async () => {
    h = await startGateway({ models: { tiny: { runner: storyRunner() } } });
    const stream = await h.client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'story' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
  });

  test('the raw SSE body is data: events terminated by data: [DONE]', async () => {
    h = await startGateway({ models: { tiny: { runner: storyRunner() } } });
    const res = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const body = await res.text();
    const events = body.split('\n\n').filter((e) => e.length > 0);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
  });

  test('an error after output has started arrives as an error event the client raises', async () => {
    const runner = new StepRunner({
      kind: 'fail_after',
      chunks: [text('partial')],
      error: new InferenceError('server_error', 'engine fell over'),
    });
    h = await startGateway({ models: { m: { runner } } });
    const stream = await h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toThrow(/The model's backend failed \(request id chatcmpl-/);
    expect(seen.join('')).toBe('partial');
  });

  test('an error before any output still gets its HTTP status', async () => {
    const runner = new StepRunner({ kind: 'fail_after', chunks: [], error: new InferenceError('rate_limited', 'slow down', { retryAfterMs: 2500 }) });
    h = await startGateway({ models: { m: { runner } } });
    const err = await h.client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true })
      .then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ status: 429 });
    expect((err as { headers: Headers }).headers.get('retry-after')).toBe('3');
  });
});

describe('tools', () => {
  const tools = [
    {
      type: 'function' as const,
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ];
  // The core kit's ScriptedRunner plays a tool call the way a provider streams it: id and name
  // first, the arguments JSON in pieces, then finish reason tool_calls.
  const toolCallRunner = (): ScriptedRunner =>
    new ScriptedRunner({
      script: [
        { chunk: { toolCallDelta: { index: 0, id: 'call_1', name: 'get_weather', argumentsDelta: '{"ci' } } },
        { chunk: { toolCallDelta: { index: 0, argumentsDelta: 'ty":"Paris"}' } } },
        { finish: 'tool_calls', usage: USAGE },
      ],
    });

  test('tools and tool_choice reach the runner; unary tool_calls come back', async () => {
    const runner = toolCallRunner();
    h = await startGateway({ models: { m: { runner } } });
    const res = await h.client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(runner.calls[0]!.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ]);
    expect(runner.calls[0]!.toolChoice).toEqual({ type: 'tool', name: 'get_weather' });
    const msg = res.choices[0]!.message;
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(msg.content).toBeNull();
    expect(msg.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });

  test('streamed tool-call deltas assemble in the official client', async () => {
    const runner = toolCallRunner();
    h = await startGateway({ models: { m: { runner } } });
    const stream = h.client.chat.completions.stream({
      model: 'm',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
      tool_choice: 'required',
    });
    const final = await stream.finalChatCompletion();
    expect(runner.calls[0]!.toolChoice).toBe('required');
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ]);
  });

  test('response_format json_schema reaches the runner', async () => {
    const runner = storyRunner();
    h = await startGateway({ models: { m: { runner } } });
    await h.client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'point', schema: { type: 'object' }, strict: true } },
    });
    expect(runner.batches[0]!.responseFormat).toEqual({ type: 'json_schema', name: 'point', schema: { type: 'object' }, strict: true });
  });
});

describe('client disconnect', () => {
  test('aborting a stream cancels the runner request', async () => {
    const runner = new StepRunner({ kind: 'hang_after', chunks: [text('first')] });
    h = await startGateway({ models: { m: { runner } } });
    const controller = new AbortController();
    const stream = await h.client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: controller.signal },
    );
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.choices[0]?.delta.content).toBe('first');
    controller.abort();
    await runner.nextCancel();
    expect(runner.cancels).toEqual(['client disconnected']);
  });

  test('aborting a unary request cancels the runner request', async () => {
    const runner = new StepRunner({ kind: 'hang_after', chunks: [] });
    h = await startGateway({ models: { m: { runner } } });
    const controller = new AbortController();
    const p = h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    await runner.started();
    controller.abort();
    await expect(p).rejects.toThrow();
    await runner.nextCancel();
    expect(runner.cancels).toEqual(['client disconnected']);
    const metrics = await (await fetch(`${h.origin}/metrics`)).text();
    expect(metrics).toContain('inferkit_gateway_client_disconnects_total{model="m"} 1');
  });
});

describe('with the core kit and supervise', () => {
  test('a ScriptedRunner cancelled by a client abort stops producing', async () => {
    const runner = new ScriptedRunner({ script: Array.from({ length: 10_000 }, (_, i) => ({ text: `t${i} ` })) });
    h = await startGateway({ models: { m: { runner } } });
    const controller = new AbortController();
    const stream = await h.client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: controller.signal },
    );
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    controller.abort();
    await until(() => runner.cancellations > 0);
    expect(runner.cancellations).toBe(1);
    expect(runner.produced).toBeLessThan(10_000);
  });

  test('supervise backpressure (serving.maxConcurrent, reject) becomes 429 with retry-after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new ScriptedRunner({ script: [{ text: 'a' }, { finish: 'stop' }] });
    const slowExecute = slow.execute.bind(slow);
    // Counted on entry: the ScriptedRunner records a call only once the gate opens.
    let entered = 0;
    slow.execute = async (b, o) => {
      entered++;
      await gate;
      return slowExecute(b, o);
    };
    const runner = supervise(slow, { serving: { maxConcurrent: 1, onCapacityExhausted: 'reject' } });
    h = await startGateway({ models: { m: { runner } } });
    const first = h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    await until(() => entered > 0);
    const second = await h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'y' }] }).then(
      () => null,
      (e: unknown) => e as { status: number; code: string; headers: Headers },
    );
    expect(second?.status).toBe(429);
    expect(second?.code).toBe('backpressure');
    expect(second?.headers.get('retry-after')).toBe('1');
    release();
    expect((await first).choices[0]!.message.content).toBe('a');
  });
});
