import { ScriptedRunner } from '@inferkit/inference-core/testing';
import { describe, expect, test } from 'vitest';
import { declaredCapabilities } from './declared-capabilities.js';

const NONE = { tools: false, responseFormat: false, images: false, penalties: false };

describe('declaredCapabilities', () => {
  test('reads true fields only; anything else is false', () => {
    const runner = Object.assign(new ScriptedRunner(), { capabilities: () => ({ tools: true, images: 'yes', penalties: 1 }) });
    expect(declaredCapabilities(runner)).toEqual({ ...NONE, tools: true });
  });

  test('no method, a non-object answer or a throwing method declare nothing', () => {
    const plain = { execute: new ScriptedRunner().execute } as never;
    expect(declaredCapabilities(plain)).toEqual(NONE);
    expect(declaredCapabilities(Object.assign(new ScriptedRunner(), { capabilities: () => null }))).toEqual(NONE);
    const throwing = Object.assign(new ScriptedRunner(), {
      capabilities: () => {
        throw new Error('not ready');
      },
    });
    expect(declaredCapabilities(throwing)).toEqual(NONE);
  });
});
