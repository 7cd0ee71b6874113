// Tool calling and structured output end to end: the gateway (createGateway) serves CudaRunner
// over the OpenAI API and the official `openai` client calls it. The model is the embedded one
// with a ChatML/Hermes chat template that renders tools (the committed model's template does not),
// next to the embedded model as committed.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '@inferkit/gateway';
import { CudaRunner } from '@inferkit/runner-cuda';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MODEL_DIR } from './model-fixture.mjs';

const HERMES_TEMPLATE = [
  "{%- if tools %}{{- '<|im_start|>system\\nYou may call tools:\\n<tools>' }}",
  "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}",
  "{{- '\\n</tools>\\nTo call one, answer with <tool_call>\\n{\"name\": <tool-name>, \"arguments\": <arguments-object>}\\n</tool_call><|im_end|>\\n' }}{%- endif %}",
  "{%- for message in messages %}",
  "{%- if message.role == 'assistant' and message.tool_calls %}{{- '<|im_start|>assistant' }}",
  "{%- for call in message.tool_calls %}{{- '\\n<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}\\n</tool_call>' }}{%- endfor %}",
  "{{- '<|im_end|>\\n' }}",
  "{%- elif message.role == 'tool' %}{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}",
  "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join('\n');

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', minLength: 1, maxLength: 20 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
      additionalProperties: false,
    },
  },
};
const TIME = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', maxLength: 8 } }, required: ['zone'] } } };

/** Arguments of get_weather as the schema allows them. */
function weatherArgs(text) {
  const a = JSON.parse(text);
  expect(Object.keys(a).every((k) => k === 'city' || k === 'unit')).toBe(true);
  expect(typeof a.city).toBe('string');
  expect([...a.city].length).toBeGreaterThanOrEqual(1);
  expect([...a.city].length).toBeLessThanOrEqual(20);
  if ('unit' in a) expect(['celsius', 'fahrenheit']).toContain(a.unit);
  return a;
}

let root;
let gateway;
let client;
const runners = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'inferkit-quickstart-tools-'));
  const dir = join(root, 'inferkit-tiny-tools');
  mkdirSync(dir);
  for (const f of ['model.safetensors', 'config.json', 'generation_config.json', 'tokenizer.json']) symlinkSync(join(MODEL_DIR, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: HERMES_TEMPLATE }));
  const load = async (path) => {
    const runner = new CudaRunner({ device: 'cpu', threads: 2, maxBatch: 8, engineProcess: 'in-process' });
    runners.push(runner);
    await runner.loadWeights({ kind: 'local_path', path });
    return runner;
  };
  const tools = await load(dir);
  const plain = await load(MODEL_DIR);
  gateway = createGateway({
    models: { 'tiny-tools': { runner: tools, contextTokens: 1024 }, 'inferkit-tiny': { runner: plain, contextTokens: 1024 } },
    logger: () => undefined,
  });
  const address = await gateway.listen({ port: 0 });
  client = new OpenAI({ baseURL: `http://127.0.0.1:${address.port}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  for (const r of runners) await r.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('tool calls through the gateway with the openai client', () => {
  test('a forced call: the named tool, arguments valid under its schema, finish_reason tool_calls', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny-tools',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [WEATHER, TIME],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 1,
      seed: 1,
      max_tokens: 200,
    });
    const choice = r.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls[0];
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    weatherArgs(call.function.arguments);
  }, 120_000);

  test('a streamed call: argument fragments assemble to valid JSON; the result goes into the next prompt', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny-tools',
      messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
      tools: [WEATHER, TIME],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 1,
      seed: 2,
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls = new Map();
    let fragments = 0;
    let finish;
    let usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.finish_reason) finish = c.finish_reason;
      for (const d of c.delta.tool_calls ?? []) {
        const call = calls.get(d.index) ?? { id: '', name: '', arguments: '' };
        if (d.id) call.id = d.id;
        if (d.function?.name) call.name = d.function.name;
        if (d.function?.arguments) {
          call.arguments += d.function.arguments;
          fragments++;
        }
        calls.set(d.index, call);
      }
    }
    expect(finish).toBe('tool_calls');
    expect(calls.size).toBe(1);
    const call = calls.get(0);
    expect(call.name).toBe('get_weather');
    expect(fragments).toBeGreaterThan(1);
    const args = weatherArgs(call.arguments);

    // The next turn: the call and its result, rendered by the template into the prompt.
    const next = await client.chat.completions.create({
      model: 'tiny-tools',
      messages: [
        { role: 'user', content: 'What is the weather in Oslo?' },
        { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: args.city, sky: 'clear', degrees: 4 }) },
      ],
      tools: [WEATHER, TIME],
      tool_choice: 'none',
      temperature: 0,
      max_tokens: 16,
    });
    expect(next.choices[0].message.tool_calls ?? []).toEqual([]);
    expect(['stop', 'length']).toContain(next.choices[0].finish_reason);
    // 'none' renders no tools: what the prompt holds beyond the question is the call and its result.
    const question = await client.chat.completions.create({
      model: 'tiny-tools',
      messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
      max_tokens: 1,
    });
    const added = JSON.stringify({ name: call.name, arguments: args }).length + JSON.stringify({ city: args.city, sky: 'clear', degrees: 4 }).length;
    expect(next.usage.prompt_tokens - question.usage.prompt_tokens).toBeGreaterThan(added / 4);
    expect(usage.prompt_tokens).toBeGreaterThan(question.usage.prompt_tokens);
  }, 120_000);

  test('tool_choice required with several tools: every call names one of them, with valid arguments', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny-tools',
      messages: [{ role: 'user', content: 'Weather in Rome, and the time there?' }],
      tools: [WEATHER, TIME],
      tool_choice: 'required',
      temperature: 1,
      seed: 5,
      max_tokens: 300,
    });
    const m = r.choices[0].message;
    expect(m.tool_calls.length).toBeGreaterThan(0);
    // The tiny model may keep adding calls until max_tokens: the last one can then be cut.
    const whole = r.choices[0].finish_reason === 'length' ? m.tool_calls.slice(0, -1) : m.tool_calls;
    if (r.choices[0].finish_reason !== 'length') expect(r.choices[0].finish_reason).toBe('tool_calls');
    for (const c of whole) {
      expect(['get_weather', 'get_time']).toContain(c.function.name);
      if (c.function.name === 'get_weather') weatherArgs(c.function.arguments);
      else expect(typeof JSON.parse(c.function.arguments).zone).toBe('string');
    }
  }, 120_000);

  test('response_format json_schema: the content parses and matches', async () => {
    const r = await client.chat.completions.create({
      model: 'inferkit-tiny',
      messages: [{ role: 'user', content: 'Describe a cat.' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'cat', schema: { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer' }, happy: { type: 'boolean' } }, required: ['name', 'age', 'happy'], additionalProperties: false } },
      },
      temperature: 1,
      seed: 3,
      max_tokens: 200,
    });
    expect(r.choices[0].finish_reason).toBe('stop');
    const v = JSON.parse(r.choices[0].message.content);
    expect(Object.keys(v)).toEqual(['name', 'age', 'happy']);
    expect(typeof v.name).toBe('string');
    expect(Number.isInteger(v.age)).toBe(true);
    expect(typeof v.happy).toBe('boolean');
  }, 120_000);

  test('bad input answers 400 with the reason', async () => {
    const refusal = async (body) => {
      try {
        await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, ...body });
      } catch (e) {
        return e;
      }
      throw new Error('expected a 400');
    };
    let e = await refusal({ model: 'tiny-tools', response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'string', pattern: '^a' } } } } } });
    expect(e.status).toBe(400);
    expect(e.message).toContain("'pattern'");
    e = await refusal({ model: 'tiny-tools', response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'strnig' } } } } } });
    expect(e.status).toBe(400);
    expect(e.message).toContain("unknown type 'strnig'");
    // The committed model's template does not render tools.
    e = await refusal({ model: 'inferkit-tiny', tools: [WEATHER] });
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/tools/);
  }, 60_000);
});
