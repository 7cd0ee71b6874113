import { NoSuchModelError } from '@ai-sdk/provider';
import { InferenceError } from '@inferkit/inference-core';
import { ScriptedRunner } from '@inferkit/inference-core/testing';
import { describe, expect, test } from 'vitest';
import { createInferkit } from './create-inferkit.js';
import { errorOf } from '../test/helpers/error-of.js';

describe('createInferkit', () => {
  test('is a v3 provider whose models carry the id, the provider name and the runner model name', () => {
    const runner = new ScriptedRunner();
    const inferkit = createInferkit({ models: { local: runner, remote: { runner, model: 'gpt-4o-mini' } } });
    expect(inferkit.specificationVersion).toBe('v3');
    const local = inferkit('local');
    expect(local).toMatchObject({ specificationVersion: 'v3', provider: 'inferkit', modelId: 'local', supportedUrls: {} });
    expect(inferkit.languageModel('remote').modelId).toBe('remote');
  });

  test('the runner model name defaults to the key and can be set per model', async () => {
    const runner = new ScriptedRunner({ script: [{ finish: 'stop' }] });
    const inferkit = createInferkit({ models: { local: runner, remote: { runner, model: 'gpt-4o-mini' } } });
    const call = { prompt: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }] };
    await inferkit('local').doGenerate(call);
    await inferkit('remote').doGenerate(call);
    expect(runner.calls.map((b) => b.model)).toEqual(['local', 'gpt-4o-mini']);
  });

  test('an unknown model id throws NoSuchModelError listing the known ones; no embedding or image models', () => {
    const inferkit = createInferkit({ models: { a: new ScriptedRunner(), b: new ScriptedRunner() } });
    const e = errorOf(() => inferkit('c'));
    expect(NoSuchModelError.isInstance(e)).toBe(true);
    expect(e).toMatchObject({ modelId: 'c', modelType: 'languageModel' });
    expect((e as Error).message).toContain('"a", "b"');
    expect(NoSuchModelError.isInstance(errorOf(() => inferkit('toString')))).toBe(true);
    expect(errorOf(() => inferkit.embeddingModel('a'))).toMatchObject({ modelType: 'embeddingModel' });
    expect(errorOf(() => inferkit.imageModel('a'))).toMatchObject({ modelType: 'imageModel' });
  });

  test('bad settings throw bad_request naming the setting', () => {
    const runner = new ScriptedRunner();
    const cases: Array<[unknown, string]> = [
      [undefined, 'settings'],
      [{}, 'models'],
      [{ models: [] }, 'models'],
      [{ models: {} }, 'models'],
      [{ models: { a: runner }, name: 'x' }, 'name'],
      [{ models: { a: 'runner' } }, 'models.a'],
      [{ models: { a: { model: 'x' } } }, 'models.a.runner'],
      [{ models: { a: { runner, model: '' } } }, 'models.a.model'],
      [{ models: { a: { runner, weight: 2 } } }, 'models.a.weight'],
    ];
    for (const [settings, param] of cases) {
      const e = errorOf(() => createInferkit(settings as never));
      expect(InferenceError.isInstance(e), param).toBe(true);
      expect(e).toMatchObject({ kind: 'bad_request', details: { param } });
    }
  });
});
