// Structured output end to end on the embedded model (models/inferkit-tiny): JSON schemas and
// json_object through CudaRunner, sampled at temperature 1, every output parsed and validated
// with ajv; 16 concurrent sequences with a schema each, mixed with unconstrained ones; refusals.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { InferenceError, type ExecuteBatch } from '@inferkit/inference-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { ADDON_BUILT, INFERKIT_TINY_DIR } from './helpers/paths.js';
import { randomSchemas, type Schema } from './helpers/random-schemas.js';

const MAX_TOKENS = 900;

let runner: CudaRunner;

beforeAll(async () => {
  runner = new CudaRunner({ device: 'cpu', threads: 2, maxBatch: 20, maxSeqLen: 1024, engineProcess: 'in-process' });
  await runner.loadWeights({ kind: 'local_path', path: INFERKIT_TINY_DIR });
});

afterAll(async () => {
  await runner?.close();
});

function request(id: string, schema: Schema | undefined, seed: number, extra: Partial<ExecuteBatch> = {}): ExecuteBatch {
  return {
    requestId: id,
    model: 'inferkit-tiny',
    messages: [{ role: 'user', content: 'Describe a cat as JSON.' }],
    sampling: { temperature: 1, topP: 1, seed, maxTokens: MAX_TOKENS },
    stream: true,
    estimatedTokens: 32,
    ...(schema !== undefined ? { responseFormat: { type: 'json_schema', name: 'out', schema } } : {}),
    ...extra,
  };
}

function validator(schema: Schema) {
  return new Ajv2020({ strict: true }).compile(schema);
}

/** Parses and validates; returns why not, or undefined. */
function problem(text: string, schema: Schema, finishReason: string | undefined): string | undefined {
  if (finishReason !== 'stop') return `finish ${finishReason}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `does not parse: ${(e as Error).message}`;
  }
  const validate = validator(schema);
  return validate(value) ? undefined : `invalid: ${JSON.stringify(validate.errors)}`;
}

describe.skipIf(!ADDON_BUILT)('structured output (inferkit-tiny, temperature 1)', () => {
  test('200 generated JSON schemas: every output parses and validates', { timeout: 600_000 }, async () => {
    const schemas = randomSchemas(2026, 200, MAX_TOKENS - 100);
    // The generator covers the keywords: count what the set uses.
    const text = JSON.stringify(schemas);
    for (const k of ['"anyOf"', '"$ref"', '"enum"', '"const"', '"minItems"', '"maxLength"', '"minLength"', '"integer"', '"number"', '"boolean"', '"null"', '"additionalProperties"']) {
      expect(text, k).toContain(k);
    }
    const failures: string[] = [];
    let tokens = 0;
    // Four at a time: the requests are independent; this only keeps the test short.
    for (let i = 0; i < schemas.length; i += 4) {
      const group = schemas.slice(i, i + 4);
      const outs = await Promise.all(group.map(async (schema, k) => (await runner.execute(request(`s${i + k}`, schema, i + k))).collect()));
      outs.forEach((out, k) => {
        tokens += out.usage?.outputTokens ?? 0;
        const why = problem(out.text, group[k]!, out.finishReason);
        if (why !== undefined) failures.push(`schema ${i + k}: ${why}\n  ${JSON.stringify(group[k])}\n  ${JSON.stringify(out.text)}`);
      });
    }
    expect(failures).toEqual([]);
    expect(tokens).toBeGreaterThan(200 * 5);
  });

  test('16 concurrent sequences, each with its own schema, beside unconstrained ones', { timeout: 300_000 }, async () => {
    const schemas = randomSchemas(77, 16, MAX_TOKENS - 100);
    let maxActive = 0;
    let polling = true;
    const engine = runner._engine!;
    const poll = (async () => {
      while (polling) {
        maxActive = Math.max(maxActive, (await engine.stats()).activeSequences);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let outs, frees;
    try {
      const constrained = schemas.map(async (schema, i) => (await runner.execute(request(`c${i}`, schema, 100 + i))).collect());
      const free = [0, 1, 2, 3].map(async (i) => (await runner.execute(request(`f${i}`, undefined, 200 + i, { sampling: { temperature: 1, seed: 200 + i, maxTokens: 40 } }))).collect());
      outs = await Promise.all(constrained);
      frees = await Promise.all(free);
    } finally {
      polling = false;
      await poll;
    }
    const failures = outs.map((o, i) => problem(o.text, schemas[i]!, o.finishReason)).filter((x) => x !== undefined);
    expect(failures).toEqual([]);
    // The unconstrained neighbours were not constrained: they wrote free text.
    for (const f of frees) expect(f.usage?.outputTokens).toBeGreaterThan(0);
    expect(frees.some((f) => !f.text.trimStart().startsWith('{'))).toBe(true);
    expect(maxActive).toBeGreaterThan(1);
  });

  test('json_object: a JSON object when it completes; maxTokens mid-JSON finishes length', async () => {
    for (let seed = 0; seed < 6; seed++) {
      const out = await (await runner.execute(request(`o${seed}`, undefined, seed, { responseFormat: { type: 'json_object' }, sampling: { temperature: 1, seed, maxTokens: 120 } }))).collect();
      expect(out.text.startsWith('{')).toBe(true);
      if (out.finishReason === 'stop') {
        const v: unknown = JSON.parse(out.text);
        expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
      } else {
        // Cut by maxTokens: incomplete JSON, as OpenAI returns it.
        expect(out.finishReason).toBe('length');
        expect(out.usage?.outputTokens).toBe(120);
      }
    }
    const cut = await (await runner.execute(request('cut', { type: 'object', properties: { a: { type: 'string', maxLength: 50, minLength: 50 } }, required: ['a'] }, 1, { sampling: { temperature: 1, seed: 1, maxTokens: 5 } }))).collect();
    expect(cut.finishReason).toBe('length');
    expect(() => JSON.parse(cut.text)).toThrow();
  });

  test('constrained decoding survives rebuildSession (the engine keeps the vocabulary)', async () => {
    await runner.rebuildSession('manual');
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const out = await (await runner.execute(request('rebuilt', schema, 9))).collect();
    expect(problem(out.text, schema, out.finishReason)).toBeUndefined();
  });

  test('bad schemas are refused with bad_request and the reason', async () => {
    const cases: Array<[Schema, string, string]> = [
      [{ type: 'object', properties: { a: { type: 'strin' } } }, 'responseFormat.schema', "unknown type 'strin'"],
      [{ type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]+$' } } }, 'responseFormat.schema', "'pattern'"],
      [{ type: 'object', properties: { when: { type: 'string', format: 'date-time' } } }, 'responseFormat.schema', "'format'"],
      [{ type: 'integer', minimum: 3 }, 'responseFormat.schema', "'minimum'"],
      [{ $ref: '#/$defs/nope' }, 'responseFormat.schema', 'points to nothing'],
    ];
    for (const [schema, param, why] of cases) {
      const e = await errorOf(runner.execute(request('bad', schema, 1)));
      expect(e.kind).toBe('bad_request');
      expect(e.details).toEqual({ param });
      expect(e.message).toContain(why);
      expect(e.requestId).toBe('bad');
    }
    // The model's own template (ChatML without tools) cannot offer tools.
    const e = await errorOf(runner.execute(request('tools', undefined, 1, { tools: [{ name: 'f', parameters: { type: 'object' } }] })));
    expect(InferenceError.isInstance(e)).toBe(true);
    expect(e.kind).toBe('bad_request');
    expect(e.details).toEqual({ param: 'tools' });
    expect(e.message).toContain('does not render tools');
    // Nothing was left running.
    expect((await runner._engine!.stats()).activeSequences).toBe(0);
  });
});
