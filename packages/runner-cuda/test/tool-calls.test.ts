// Tool calling through CudaRunner on copies of the embedded model with tool-capable chat
// templates (Hermes/Qwen, Llama 3 JSON, Mistral): forced, required, automatic and forbidden calls,
// streamed toolCallDeltas whose arguments validate against each tool's schema, tool results
// rendered into the next prompt, and refusals.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Tokens, type ExecuteBatch, type Message, type TokenChunk, type ToolDefinition } from '@inferkit/inference-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chatMessages, ChatPrompt } from '../src/chat/chat-prompt.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { ADDON_BUILT } from './helpers/paths.js';
import { tinyModelWithTemplate } from './helpers/tool-models.js';
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, UNKNOWN_FORMAT_TEMPLATE } from './helpers/tool-templates.js';

const TOOLS: ToolDefinition[] = [
  {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', minLength: 1, maxLength: 16 }, unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } },
      required: ['city'],
      additionalProperties: false,
    },
  },
  {
    name: 'add_numbers',
    description: 'Adds numbers',
    parameters: { type: 'object', properties: { values: { type: 'array', items: { type: 'number' }, minItems: 1, maxItems: 4 } }, required: ['values'] },
  },
];
const validators = new Map(TOOLS.map((t) => [t.name, new Ajv2020({ strict: true }).compile(t.parameters)]));

function ask(id: string, seed: number, extra: Partial<ExecuteBatch> = {}, messages?: Message[]): ExecuteBatch {
  return {
    requestId: id,
    model: 'tiny-tools',
    messages: messages ?? [{ role: 'user', content: 'What is the weather in Paris?' }],
    sampling: { temperature: 1, seed, maxTokens: 360 },
    stream: true,
    estimatedTokens: 64,
    tools: TOOLS,
    ...extra,
  };
}

async function run(runner: CudaRunner, batch: ExecuteBatch): Promise<{ tokens: Tokens; chunks: TokenChunk[] }> {
  const chunks: TokenChunk[] = [];
  for await (const c of await runner.execute(batch)) chunks.push(c);
  return { tokens: Tokens.from(chunks), chunks };
}

/**
 * Every call names a tool and carries arguments that parse and validate; ids are distinct. A
 * reply cut by maxTokens (finish `length`, the model kept adding calls) may end in an incomplete
 * call, as OpenAI's does: every call before it must still be whole and valid.
 */
function checkCalls(t: Tokens, { mayBeCut = false } = {}): void {
  const cut = mayBeCut && t.finishReason === 'length';
  if (!cut) expect(t.finishReason).toBe('tool_calls');
  const ids = new Set<string>();
  const whole = cut ? t.toolCalls.slice(0, -1) : t.toolCalls;
  for (const c of whole) {
    const validate = validators.get(c.name);
    expect(validate, c.name).toBeDefined();
    const args: unknown = JSON.parse(c.arguments);
    expect(validate!(args), `${c.name} ${c.arguments} ${JSON.stringify(validate!.errors)}`).toBe(true);
    expect(c.id).not.toBe('');
    ids.add(c.id);
  }
  expect(ids.size).toBe(whole.length);
}

describe.skipIf(!ADDON_BUILT)('tool calls (inferkit-tiny with tool-capable templates)', () => {
  const models = {
    hermes: tinyModelWithTemplate(HERMES_TEMPLATE),
    llama3: tinyModelWithTemplate(LLAMA3_TEMPLATE),
    mistral: tinyModelWithTemplate(MISTRAL_TEMPLATE, { '<|im_start|>': '[TOOL_CALLS]' }),
  };
  const runners: Record<keyof typeof models, CudaRunner> = {} as never;

  beforeAll(async () => {
    for (const [name, m] of Object.entries(models) as Array<[keyof typeof models, { dir: string }]>) {
      runners[name] = new CudaRunner({ device: 'cpu', threads: 2, maxBatch: 8, maxSeqLen: 1024, engineProcess: 'in-process' });
      await runners[name].loadWeights({ kind: 'local_path', path: m.dir });
    }
  });

  afterAll(async () => {
    for (const r of Object.values(runners)) await r?.close();
    for (const m of Object.values(models)) m.remove();
  });

  test('capabilities follow the template', () => {
    expect(runners.hermes.capabilities()).toMatchObject({ responseFormat: true, tools: true });
  });

  test('hermes, toolChoice required: streamed calls whose argument fragments assemble to valid arguments', { timeout: 120_000 }, async () => {
    let fragments = 0;
    let ended = 0;
    // Eight at once: one engine batch, each with its own grammar state.
    const runs = await Promise.all(Array.from({ length: 8 }, (_, seed) => run(runners.hermes, ask(`req${seed}`, seed, { toolChoice: 'required' }))));
    for (const { tokens, chunks } of runs) {
      expect(tokens.text).toBe('');
      expect(tokens.toolCalls.length).toBeGreaterThan(0);
      checkCalls(tokens, { mayBeCut: true });
      if (tokens.finishReason === 'tool_calls') ended++;
      // Each call opens with one delta carrying its id and whole name, then argument pieces.
      const byIndex = new Map<number, TokenChunk[]>();
      for (const c of chunks) if (c.toolCallDelta !== undefined) byIndex.set(c.toolCallDelta.index, [...(byIndex.get(c.toolCallDelta.index) ?? []), c]);
      for (const [, deltas] of byIndex) {
        expect(deltas[0]!.toolCallDelta!.id).toBeDefined();
        expect(deltas[0]!.toolCallDelta!.name).toBeDefined();
        for (const d of deltas.slice(1)) expect(d.toolCallDelta!.id).toBeUndefined();
        fragments = Math.max(fragments, deltas.length - 1);
      }
      expect(chunks.at(-1)!.finishReason).toBe(tokens.finishReason);
    }
    // Arguments arrive in pieces as they are generated, not as one block at the end.
    expect(fragments).toBeGreaterThan(2);
    expect(ended).toBeGreaterThan(0);
  });

  test('hermes, a named tool forces exactly that call; none forbids calls', { timeout: 120_000 }, async () => {
    const named = await Promise.all([0, 1, 2, 3].map((seed) => run(runners.hermes, ask(`named${seed}`, seed, { toolChoice: { type: 'tool', name: 'add_numbers' } }))));
    for (const { tokens } of named) {
      expect(tokens.toolCalls.map((c) => c.name)).toEqual(['add_numbers']);
      checkCalls(tokens);
    }
    for (let seed = 0; seed < 3; seed++) {
      const { tokens } = await run(runners.hermes, ask(`none${seed}`, seed, { toolChoice: 'none', sampling: { temperature: 1, seed, maxTokens: 40 } }));
      expect(tokens.toolCalls).toEqual([]);
      expect(tokens.finishReason === 'stop' || tokens.finishReason === 'length').toBe(true);
    }
  });

  test('hermes, auto: text or calls, each well formed', { timeout: 120_000 }, async () => {
    const seen = { text: 0, calls: 0 };
    const runs = await Promise.all(Array.from({ length: 8 }, (_, seed) => run(runners.hermes, ask(`auto${seed}`, seed, { sampling: { temperature: 1, seed, maxTokens: 200 } }))));
    for (const { tokens } of runs) {
      if (tokens.toolCalls.length > 0) {
        checkCalls(tokens, { mayBeCut: true });
        seen.calls++;
      } else {
        expect(tokens.finishReason === 'stop' || tokens.finishReason === 'length').toBe(true);
        expect(tokens.text).not.toContain('<tool_call>');
        seen.text++;
      }
    }
    expect(seen.text + seen.calls).toBe(8);
  });

  test('llama3 and mistral formats', { timeout: 180_000 }, async () => {
    for (const name of ['llama3', 'mistral'] as const) {
      const seeds = [0, 1, 2, 3];
      // 'required': the tiny model likes to append more Mistral calls until maxTokens.
      const required = await Promise.all(seeds.map((seed) => run(runners[name], ask(`${name}${seed}`, seed, { toolChoice: 'required' }))));
      // A named tool: one call, whole.
      const named = await Promise.all(seeds.map((seed) => run(runners[name], ask(`${name}n${seed}`, seed, { toolChoice: { type: 'tool', name: 'get_weather' } }))));
      for (const { tokens } of required) {
        expect(tokens.toolCalls.length, name).toBeGreaterThan(0);
        checkCalls(tokens, { mayBeCut: name === 'mistral' });
        if (name === 'mistral') for (const c of tokens.toolCalls) expect(c.id).toMatch(/^[A-Za-z0-9]{9}$/);
      }
      for (const { tokens } of named) {
        expect(tokens.toolCalls.map((c) => c.name)).toEqual(['get_weather']);
        checkCalls(tokens);
      }
    }
  });

  test('tool results round-trip into the next prompt', { timeout: 120_000 }, async () => {
    const first = (await run(runners.hermes, ask('turn1', 3, { toolChoice: { type: 'tool', name: 'get_weather' } }))).tokens;
    checkCalls(first);
    const history: Message[] = [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: '', toolCalls: first.toolCalls },
      ...first.toolCalls.map((c): Message => ({ role: 'tool', toolCallId: c.id, content: `{"result": "sunny, 21 degrees", "for": ${JSON.stringify(c.name)}}` })),
    ];
    // The template renders the call as the model wrote it and the result as a tool response.
    const prompt = new ChatPrompt(HERMES_TEMPLATE, { bosToken: undefined, eosToken: '<|im_end|>', addBos: false });
    const text = prompt.render(chatMessages(history), TOOLS.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })));
    const rendered = [...text.matchAll(/<tool_call>\n\{"name": "([^"]+)", "arguments": (.*)\}\n<\/tool_call>/g)];
    // Every call of the history (the instructions' example names no tool, so it does not match).
    expect(rendered.length).toBe(first.toolCalls.length);
    first.toolCalls.forEach((c, i) => {
      expect(rendered[i]![1]).toBe(c.name);
      expect(JSON.parse(rendered[i]![2]!)).toEqual(JSON.parse(c.arguments));
    });
    expect(text).toContain('<tool_response>\n{"result": "sunny, 21 degrees"');
    expect(text).toContain('"name": "get_weather"'); // the tools list
    expect(text.endsWith('<|im_start|>assistant\n')).toBe(true);
    // And the model answers the next turn.
    const second = (await run(runners.hermes, ask('turn2', 4, { sampling: { temperature: 1, seed: 4, maxTokens: 30 } }, history))).tokens;
    expect(second.usage?.inputTokens).toBeGreaterThan((first.usage?.inputTokens ?? 0) + 10);
    expect(second.finishReason).toBeDefined();
  });

  test('a template that renders tools in an unknown format is refused with the reason', async () => {
    const m = tinyModelWithTemplate(UNKNOWN_FORMAT_TEMPLATE);
    const runner = new CudaRunner({ device: 'cpu', threads: 2, engineProcess: 'in-process' });
    try {
      await runner.loadWeights({ kind: 'local_path', path: m.dir });
      expect(runner.capabilities().tools).toBeUndefined();
      const e = await errorOf(runner.execute(ask('unknown', 1)));
      expect(e.kind).toBe('bad_request');
      expect(e.details).toEqual({ param: 'tools' });
      expect(e.message).toContain('call format runner-cuda does not parse');
      // toolChoice 'none' needs no tool support.
      const ok = (await run(runner, ask('none', 1, { toolChoice: 'none', sampling: { maxTokens: 4 } }))).tokens;
      expect(ok.finishReason).toBeDefined();
    } finally {
      await runner.close();
      m.remove();
    }
  });
});
