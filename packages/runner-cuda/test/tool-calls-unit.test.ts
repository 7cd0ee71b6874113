import { InferenceError, Tokens, type ExecuteBatch, type ToolDefinition } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { PLAIN_CHAT_TEMPLATE } from '../src/chat/chat-prompt.js';
import { OutputPlanner } from '../src/grammar/output-plan.js';
import { newToolCallId, templateToolSupport, TOOL_CALL_FORMATS, type ToolCallFormat } from '../src/tools/tool-call-format.js';
import { ToolCallParser } from '../src/tools/tool-call-parser.js';
import { withVisibleToken } from '../src/tools/with-visible-token.js';
import { ChunkAssembler } from '../src/stream/chunk-assembler.js';
import { grammarAccepts, grammarSpecialTokens } from './helpers/grammar-oracle.js';
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, UNKNOWN_FORMAT_TEMPLATE } from './helpers/tool-templates.js';

const TOOLS: ToolDefinition[] = [
  {
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 }, unit: { enum: ['c', 'f'] } }, required: ['city'], additionalProperties: false },
  },
  { name: 'get_time', parameters: { type: 'object', properties: {}, additionalProperties: false } },
];

function batch(extra: Partial<ExecuteBatch>): ExecuteBatch {
  return { requestId: 'r', model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, estimatedTokens: 1, ...extra };
}

function planner(template: string | undefined, special: Record<string, number> = {}): OutputPlanner {
  return new OutputPlanner(template, (t) => special[t]);
}

const call = (format: ToolCallFormat, name: string, args: string) => `{"name": ${JSON.stringify(name)}, "${format.argumentsKey}": ${args}}`;

describe('templateToolSupport', () => {
  test('tells the call format from the template', () => {
    expect(templateToolSupport(HERMES_TEMPLATE)).toEqual({ kind: 'format', format: TOOL_CALL_FORMATS.hermes });
    expect(templateToolSupport(LLAMA3_TEMPLATE)).toEqual({ kind: 'format', format: TOOL_CALL_FORMATS.llama3 });
    expect(templateToolSupport(MISTRAL_TEMPLATE)).toEqual({ kind: 'format', format: TOOL_CALL_FORMATS.mistral });
    expect(templateToolSupport(UNKNOWN_FORMAT_TEMPLATE)).toEqual({ kind: 'unknown' });
    expect(templateToolSupport(PLAIN_CHAT_TEMPLATE)).toEqual({ kind: 'none' });
    expect(templateToolSupport(undefined)).toEqual({ kind: 'none' });
    // The word in prose is not the variable.
    expect(templateToolSupport("{{ 'we have no tools' }}{% for m in messages %}{{ m.content }}{% endfor %}")).toEqual({ kind: 'none' });
  });

  test('call ids', () => {
    expect(newToolCallId(TOOL_CALL_FORMATS.hermes)).toMatch(/^call_[0-9a-f]{24}$/);
    expect(newToolCallId(TOOL_CALL_FORMATS.mistral)).toMatch(/^[A-Za-z0-9]{9}$/);
  });
});

describe('OutputPlanner', () => {
  test('hermes auto: text, or calls with arguments matching each tool', () => {
    const plan = planner(HERMES_TEMPLATE).plan(batch({ tools: TOOLS }));
    expect(plan.templateTools).toBe(TOOLS);
    expect(plan.toolCalls).toEqual({ format: TOOL_CALL_FORMATS.hermes, mode: 'auto' });
    const g = plan.grammar!;
    const f = TOOL_CALL_FORMATS.hermes;
    const weather = `<tool_call>\n${call(f, 'get_weather', '{"city":"Paris"}')}\n</tool_call>`;
    const time = `<tool_call>\n${call(f, 'get_time', '{}')}\n</tool_call>`;
    for (const ok of ['', 'Hello there.', 'a <tool_ call', weather, `Let me check.${weather}`, `${weather}\n${time}`, `<tool_call>\n${call(f, 'get_weather', '{"city": "Oslo", "unit": "c"}')}\n</tool_call>`]) {
      expect(grammarAccepts(g, ok), JSON.stringify(ok)).toBe(true);
    }
    for (const bad of [
      `${weather} and text after`,
      `<tool_call>\n${call(f, 'get_wether', '{"city":"Paris"}')}\n</tool_call>`,
      `<tool_call>\n${call(f, 'get_weather', '{}')}\n</tool_call>`,
      `<tool_call>\n${call(f, 'get_weather', '{"city":"Paris","unit":"k"}')}\n</tool_call>`,
      `<tool_call>\n${call(f, 'get_time', '{"x":1}')}\n</tool_call>`,
      '<tool_call>oops',
    ]) {
      expect(grammarAccepts(g, bad), JSON.stringify(bad)).toBe(false);
    }
  });

  test('required, named, none', () => {
    const f = TOOL_CALL_FORMATS.hermes;
    const p = planner(HERMES_TEMPLATE);
    const required = p.plan(batch({ tools: TOOLS, toolChoice: 'required' }));
    expect(required.toolCalls?.mode).toBe('calls');
    const weather = `<tool_call>\n${call(f, 'get_weather', '{"city":"Paris"}')}\n</tool_call>`;
    const time = `<tool_call>\n${call(f, 'get_time', '{}')}\n</tool_call>`;
    expect(grammarAccepts(required.grammar!, weather)).toBe(true);
    expect(grammarAccepts(required.grammar!, `${weather}\n${time}`)).toBe(true);
    expect(grammarAccepts(required.grammar!, 'Hello')).toBe(false);
    expect(grammarAccepts(required.grammar!, '')).toBe(false);
    const named = p.plan(batch({ tools: TOOLS, toolChoice: { type: 'tool', name: 'get_time' } }));
    expect(grammarAccepts(named.grammar!, time)).toBe(true);
    expect(grammarAccepts(named.grammar!, weather)).toBe(false);
    expect(grammarAccepts(named.grammar!, `${time}\n${time}`)).toBe(false);
    // 'none': tools are neither rendered nor parsed, and the output is free.
    expect(p.plan(batch({ tools: TOOLS, toolChoice: 'none' }))).toEqual({ grammar: undefined, templateTools: undefined, toolCalls: undefined });
  });

  test('llama3 and mistral layouts; a control-token trigger is allowed by id', () => {
    const l = TOOL_CALL_FORMATS.llama3;
    const lg = planner(LLAMA3_TEMPLATE).plan(batch({ tools: TOOLS })).grammar!;
    expect(grammarAccepts(lg, call(l, 'get_weather', '{"city":"Rome"}'))).toBe(true);
    expect(grammarAccepts(lg, 'Sure, it is sunny.')).toBe(true);
    expect(grammarAccepts(lg, '{"not": "a call"}')).toBe(false);
    expect(grammarAccepts(lg, `${call(l, 'get_time', '{}')}${call(l, 'get_time', '{}')}`)).toBe(false);
    const m = TOOL_CALL_FORMATS.mistral;
    const mplan = planner(MISTRAL_TEMPLATE, { '[TOOL_CALLS]': 5 }).plan(batch({ tools: TOOLS, toolChoice: 'required' }));
    expect(grammarSpecialTokens(mplan.grammar!)).toEqual([5]);
    expect(grammarAccepts(mplan.grammar!, `[TOOL_CALLS] [${call(m, 'get_time', '{}')}, ${call(m, 'get_weather', '{"city":"Nice"}')}]`)).toBe(true);
    expect(grammarAccepts(mplan.grammar!, `[TOOL_CALLS] [${call(m, 'get_time', '{}')},]`)).toBe(false);
  });

  test('response formats, alone and with tools', () => {
    const p = planner(HERMES_TEMPLATE);
    const json = p.plan(batch({ responseFormat: { type: 'json_schema', name: 's', schema: { type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] } } }));
    expect(json.toolCalls).toBeUndefined();
    expect(grammarAccepts(json.grammar!, '{"a":true}')).toBe(true);
    expect(grammarAccepts(json.grammar!, 'true')).toBe(false);
    const both = p.plan(batch({ tools: TOOLS, responseFormat: { type: 'json_object' } }));
    expect(grammarAccepts(both.grammar!, '{"x": 1}')).toBe(true);
    expect(grammarAccepts(both.grammar!, `<tool_call>\n${call(TOOL_CALL_FORMATS.hermes, 'get_time', '{}')}\n</tool_call>`)).toBe(true);
    expect(grammarAccepts(both.grammar!, 'plain text')).toBe(false);
    expect(p.plan(batch({ responseFormat: { type: 'text' } })).grammar).toBeUndefined();
    // The same request again: the compiled grammar comes from the cache.
    expect(p.plan(batch({ responseFormat: { type: 'json_object' } })).grammar).toBe(p.plan(batch({ responseFormat: { type: 'json_object' } })).grammar);
  });

  test('refusals name the parameter and the reason', () => {
    const refuse = (p: OutputPlanner, b: ExecuteBatch): InferenceError => {
      try {
        p.plan(b);
      } catch (e) {
        if (InferenceError.isInstance(e)) return e;
        throw e;
      }
      throw new Error('expected a refusal');
    };
    let e = refuse(planner(PLAIN_CHAT_TEMPLATE), batch({ tools: TOOLS }));
    expect(e.kind).toBe('bad_request');
    expect(e.details).toEqual({ param: 'tools' });
    expect(e.message).toContain('does not render tools');
    e = refuse(planner(UNKNOWN_FORMAT_TEMPLATE), batch({ tools: TOOLS }));
    expect(e.message).toContain('call format runner-cuda does not parse');
    e = refuse(planner(LLAMA3_TEMPLATE), batch({ tools: TOOLS, responseFormat: { type: 'json_object' } }));
    expect(e.details).toEqual({ param: 'responseFormat' });
    e = refuse(planner(HERMES_TEMPLATE), batch({ tools: [{ name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', pattern: 'x' } } } }] }));
    expect(e.details).toEqual({ param: 'tools[0].parameters' });
    expect(e.message).toContain("'pattern'");
    e = refuse(planner(HERMES_TEMPLATE), batch({ responseFormat: { type: 'json_schema', name: 's', schema: { type: 'number', multipleOf: 2 } } }));
    expect(e.details).toEqual({ param: 'responseFormat.schema' });
    // Without tools, a template without tool support is no obstacle.
    expect(planner(PLAIN_CHAT_TEMPLATE).plan(batch({ tools: TOOLS, toolChoice: 'none' })).grammar).toBeUndefined();
  });
});

describe('ToolCallParser', () => {
  const parseAll = (format: ToolCallFormat, mode: 'auto' | 'calls', text: string, cut: number[]): Tokens => {
    let n = 0;
    const p = new ToolCallParser(format, mode, () => `id${n++}`);
    const t = new Tokens();
    let at = 0;
    for (const c of [...cut, text.length]) {
      for (const piece of p.push(text.slice(at, c))) t.push('text' in piece ? { requestId: 'r', textDelta: piece.text } : { requestId: 'r', textDelta: '', toolCallDelta: piece.call });
      at = c;
    }
    for (const piece of p.end()) if ('text' in piece) t.push({ requestId: 'r', textDelta: piece.text });
    return t;
  };

  test('hermes: text before the calls, arguments exactly as written, at every split point', () => {
    const f = TOOL_CALL_FORMATS.hermes;
    const args1 = '{"city": "a}b\\"{", "n": [1, {"x": []}]}';
    const reply = `I will look.<tool_call>\n${call(f, 'get_weather', args1)}\n</tool_call>\n<tool_call>\n${call(f, 'get_time', '{}')}\n</tool_call>`;
    for (let i = 0; i <= reply.length; i++) {
      for (const cuts of [[i], [i, Math.min(reply.length, i + 3)]]) {
        const t = parseAll(f, 'auto', reply, cuts);
        expect(t.text).toBe('I will look.');
        expect(t.toolCalls).toEqual([
          { id: 'id0', name: 'get_weather', arguments: args1 },
          { id: 'id1', name: 'get_time', arguments: '{}' },
        ]);
      }
    }
  });

  test('text that only starts like a trigger is released at the end; no call means text', () => {
    const f = TOOL_CALL_FORMATS.hermes;
    const t = parseAll(f, 'auto', 'see <tool_ca', [5, 8]);
    expect(t.text).toBe('see <tool_ca');
    expect(t.toolCalls).toEqual([]);
  });

  test('llama3: a reply starting with { is a call, anything else is text', () => {
    const f = TOOL_CALL_FORMATS.llama3;
    const c = parseAll(f, 'auto', call(f, 'get_time', '{"tz": "UTC"}'), [1, 9]);
    expect(c.text).toBe('');
    expect(c.toolCalls).toEqual([{ id: 'id0', name: 'get_time', arguments: '{"tz": "UTC"}' }]);
    const t = parseAll(f, 'auto', 'It is {noon}.', [3]);
    expect(t.text).toBe('It is {noon}.');
    expect(t.toolCalls).toEqual([]);
  });

  test('mistral: a list of calls; a reply cut short keeps the partial arguments', () => {
    const f = TOOL_CALL_FORMATS.mistral;
    const reply = `[TOOL_CALLS] [${call(f, 'get_time', '{}')}, ${call(f, 'get_weather', '{"city":"Lyon"}')}]`;
    const t = parseAll(f, 'calls', reply, [4, 20]);
    expect(t.toolCalls.map((c) => [c.name, c.arguments])).toEqual([
      ['get_time', '{}'],
      ['get_weather', '{"city":"Lyon"}'],
    ]);
    const cut = parseAll(f, 'calls', reply.slice(0, reply.indexOf('Lyon')), []);
    expect(cut.toolCalls[1]).toEqual({ id: 'id1', name: 'get_weather', arguments: '{"city":"' });
  });
});

describe('withVisibleToken', () => {
  test('a control-token trigger reaches the parser as its text, through the chunk assembler', () => {
    // A decoder that drops control token 5, as skip_special_tokens does; ids 10.. are letters.
    const base = { decode: (ids: number[]) => ids.filter((i) => i !== 5).map((i) => String.fromCharCode(87 + i)).join('') };
    const decoder = withVisibleToken(base, 5, '[TOOL_CALLS]');
    expect(decoder.decode([10, 5, 11])).toBe('a[TOOL_CALLS]b');
    expect(base.decode([10, 5, 11])).toBe('ab');
    const assembler = new ChunkAssembler(decoder, []);
    let text = '';
    for (const id of [10, 5, 11, 12]) text += assembler.push(id).text;
    text += assembler.finish().text;
    expect(text).toBe('a[TOOL_CALLS]bc');
  });
});
