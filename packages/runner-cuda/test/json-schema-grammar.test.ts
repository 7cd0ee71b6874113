import { InferenceError } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { GrammarBuilder } from '../src/grammar/grammar-builder.js';
import { jsonObjectRule, jsonSchemaRule, NUMBER_DIGITS } from '../src/grammar/json-schema-grammar.js';
import { errorOf } from './helpers/error-of.js';
import { grammarAccepts } from './helpers/grammar-oracle.js';

function compile(schema: unknown): Int32Array {
  const b = new GrammarBuilder('responseFormat.schema');
  return b.build(jsonSchemaRule(b, schema));
}

function expectAccepts(schema: unknown, ok: string[], bad: string[]): void {
  const g = compile(schema);
  for (const t of ok) expect(grammarAccepts(g, t), `accepts ${t}`).toBe(true);
  for (const t of bad) expect(grammarAccepts(g, t), `rejects ${t}`).toBe(false);
}

async function refusal(schema: unknown): Promise<InferenceError> {
  const e = await errorOf(async () => compile(schema));
  expect(InferenceError.isInstance(e)).toBe(true);
  const err = e as InferenceError;
  expect(err.kind).toBe('bad_request');
  expect(err.details).toEqual({ param: 'responseFormat.schema' });
  return err;
}

describe('jsonSchemaRule', () => {
  test('objects: required and optional properties in declared order, one optional space after separators', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'integer' }, b: { type: 'string' }, c: { type: 'boolean' } },
      required: ['b'],
      additionalProperties: false,
    };
    expectAccepts(
      schema,
      ['{"b":""}', '{"a":1,"b":"x"}', '{"a": 1, "b": "x", "c": true}', '{"b":"x","c":false}', '{"a":-12,"b":"","c":true}'],
      ['{}', '{"a":1}', '{"b":"x","a":1}', '{"b":"x","d":1}', '{"b":"x",}', '{ "b":"x"}', '{"b":"x"}\n', '{"b":  "x"}', '{"a":1.5,"b":""}'],
    );
  });

  test('all-optional objects and missing required names (any value)', () => {
    expectAccepts({ properties: { x: { type: 'null' }, y: { type: 'null' } } }, ['{}', '{"x":null}', '{"y":null}', '{"x":null,"y":null}'], ['{,}', '{"y":null,"x":null}']);
    expectAccepts({ type: 'object', required: ['k'] }, ['{"k":[1,{"z":"q"}]}', '{"k":null}'], ['{}', '{"j":1}']);
  });

  test('maps, additionalProperties false, any object', () => {
    expectAccepts({ type: 'object', additionalProperties: { type: 'integer' } }, ['{}', '{"a":1,"b c":2}'], ['{"a":"1"}']);
    expectAccepts({ type: 'object', additionalProperties: false }, ['{}'], ['{"a":1}']);
    const b = new GrammarBuilder('responseFormat');
    const any = b.build(jsonObjectRule(b));
    for (const t of ['{}', '{"a":[1,2.5e3,{"b":null}],"c":"d\\n"}', '{"a": true}']) expect(grammarAccepts(any, t), t).toBe(true);
    for (const t of ['[]', '1', '"x"', '{"a":}', '{a:1}']) expect(grammarAccepts(any, t), t).toBe(false);
  });

  test('arrays with minItems / maxItems', () => {
    expectAccepts({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 }, ['[1]', '[1,2]', '[1, 2, 3]'], ['[]', '[1,2,3,4]', '[1,]', '["a"]']);
    expectAccepts({ type: 'array', items: { type: 'integer' }, minItems: 2 }, ['[1,2]', '[1,2,3,4,5,6]'], ['[]', '[1]']);
    expectAccepts({ type: 'array', maxItems: 0 }, ['[]'], ['[1]']);
    expectAccepts({ type: 'array' }, ['[]', '[1,"a",null,[{}]]'], ['[,]']);
  });

  test('strings: length in code points, escapes, UTF-8, no raw control characters', () => {
    expectAccepts(
      { type: 'string', minLength: 1, maxLength: 2 },
      ['"a"', '"ab"', '"é"', '"😀é"', '"\\n"', '"\\u00e9x"', '"\\"\\\\"'],
      ['""', '"abc"', '"\n"', '"\\ud83d\\ude00"', '"\\x"', '"a'],
    );
    // Invalid UTF-8: a lone continuation byte, an overlong encoding, a surrogate encoded in UTF-8.
    const g = compile({ type: 'string' });
    for (const bytes of [[0x22, 0x80, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22]]) {
      expect(grammarAccepts(g, Uint8Array.from(bytes))).toBe(false);
    }
    expect(grammarAccepts(g, Uint8Array.from([0x22, 0xf0, 0x9f, 0x98, 0x80, 0x22]))).toBe(true);
  });

  test('numbers and integers have bounded digits', () => {
    const int16 = '9'.repeat(NUMBER_DIGITS.integer);
    expectAccepts({ type: 'integer' }, ['0', '-7', int16], ['01', '1.0', '1e3', `${int16}9`, '-', '+1']);
    expectAccepts({ type: 'number' }, ['0', '-0.5', '1e9', '2.25E-10', `1.${'1'.repeat(NUMBER_DIGITS.fraction)}`], ['.5', '1.', `1.${'1'.repeat(NUMBER_DIGITS.fraction + 1)}`, '1e123', 'NaN']);
  });

  test('enum strings nested in each other (a staircase of shared prefixes)', () => {
    const values = Array.from({ length: 300 }, (_, i) => `${'a'.repeat(i)}b`);
    const g = compile({ enum: values });
    expect(grammarAccepts(g, JSON.stringify(values[271]))).toBe(true);
    expect(grammarAccepts(g, JSON.stringify('a'.repeat(300)))).toBe(false);
  });

  test('enum, const, booleans, null, type lists', () => {
    expectAccepts({ enum: ['red', 'green', 1, null, { a: [1] }] }, ['"red"', '"green"', '1', 'null', '{"a":[1]}'], ['"re"', '"blue"', '2', '{"a":[2]}']);
    expectAccepts({ type: 'string', enum: ['x', 2] }, ['"x"'], ['2']);
    expectAccepts({ const: 'only' }, ['"only"'], ['"other"']);
    expectAccepts({ type: ['string', 'null'], maxLength: 1 }, ['null', '"a"'], ['"ab"', '1']);
    expectAccepts({ type: 'boolean' }, ['true', 'false'], ['null', 'True']);
  });

  test('anyOf, $ref into $defs / definitions, recursion', () => {
    const tree = {
      $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } }, required: ['v'] } },
      $ref: '#/$defs/node',
    };
    expectAccepts(tree, ['{"v":1}', '{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}'], ['{"kids":[]}', '{"v":1,"kids":[{"v":2},{"v":3},{"v":4}]}']);
    expectAccepts({ anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 1 }], description: 'x' }, ['5', '"a"'], ['"ab"', 'null']);
    expectAccepts({ definitions: { a: { const: 1 } }, type: 'array', items: { $ref: '#/definitions/a' } }, ['[1,1]'], ['[2]']);
    // anyOf branches that can never be satisfied are dropped, not followed.
    expectAccepts({ anyOf: [{ type: 'object', properties: { x: false }, required: ['x'] }, { type: 'null' }] }, ['null'], ['{"x":1}']);
  });

  test('unsupported keywords are refused by name and place', async () => {
    for (const [schema, keyword, at] of [
      [{ type: 'string', pattern: '^a' }, 'pattern', '#'],
      [{ type: 'object', properties: { d: { type: 'string', format: 'date' } } }, 'format', '#/properties/d'],
      [{ type: 'integer', minimum: 0 }, 'minimum', '#'],
      [{ oneOf: [{ type: 'string' }] }, 'oneOf', '#'],
      [{ type: 'array', items: { type: 'string' }, uniqueItems: true }, 'uniqueItems', '#'],
      [{ type: 'object', patternProperties: { '^x': {} } }, 'patternProperties', '#'],
      [{ $defs: { a: { type: 'string', maxLength: 2, 'x-custom': 1 } }, $ref: '#/$defs/a' }, 'x-custom', '#/$defs/a'],
    ] as const) {
      const err = await refusal(schema);
      expect(err.message).toContain(`'${keyword}'`);
      expect(err.message).toContain(`(at ${at})`);
    }
  });

  test('invalid and unsatisfiable schemas are refused with the reason', async () => {
    expect((await refusal({ type: 'strin' })).message).toContain("unknown type 'strin'");
    expect((await refusal({ type: 'string', minLength: -1 })).message).toContain("'minLength' must be an integer >= 0");
    expect((await refusal({ type: 'string', minLength: 3, maxLength: 2 })).message).toContain('minLength 3 > maxLength 2');
    expect((await refusal({ type: 'array', minItems: 3, maxItems: 1 })).message).toContain('minItems 3 > maxItems 1');
    expect((await refusal({ properties: [] })).message).toContain("'properties' must be an object");
    expect((await refusal({ $ref: 'http://example.com/s.json' })).message).toContain('only references within the schema');
    expect((await refusal({ $ref: '#/$defs/missing' })).message).toContain('points to nothing');
    expect((await refusal({ $ref: '#' })).message).toContain('can never be satisfied');
    expect((await refusal({ anyOf: [{ $ref: '#' }, { type: 'null' }] })).message).toContain('refers to itself');
    expect((await refusal({ type: 'string', maxLength: 100000 })).message).toContain('length bound above');
    expect((await refusal({ enum: [1], type: 'string' })).message).toContain('can never be satisfied');
    expect((await refusal(false)).message).toContain('can never be satisfied');
    expect((await refusal({ type: 'object', properties: { a: { type: 'string' } }, $ref: '#/x' })).message).toContain("combines '$ref' with 'type'");
    expect((await refusal('string')).message).toContain('must be a JSON Schema object');
    // Each distinct bound unrolls its own rules: a schema of many is refused while it is built.
    const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1000 + i, maxLength: 4000 }])) };
    expect((await refusal(wide)).message).toContain('too large to enforce');
  });
});
