import { describe, expect, test } from 'vitest';
import { mapInferkitFinishReason } from './map-inferkit-finish-reason.js';

describe('mapInferkitFinishReason', () => {
  test('each inferkit reason has its AI SDK value; raw is the runtime string, else the inferkit one', () => {
    expect(mapInferkitFinishReason('stop', undefined)).toEqual({ unified: 'stop', raw: 'stop' });
    expect(mapInferkitFinishReason('length', 'max_tokens')).toEqual({ unified: 'length', raw: 'max_tokens' });
    expect(mapInferkitFinishReason('tool_calls', 'tool_use')).toEqual({ unified: 'tool-calls', raw: 'tool_use' });
    expect(mapInferkitFinishReason('content_filter', undefined)).toEqual({ unified: 'content-filter', raw: 'content_filter' });
    expect(mapInferkitFinishReason('error', undefined)).toEqual({ unified: 'error', raw: 'error' });
  });

  test('no finish chunk, or a value outside the union, is other', () => {
    expect(mapInferkitFinishReason(undefined, undefined)).toEqual({ unified: 'other', raw: undefined });
    expect(mapInferkitFinishReason('toString' as never, undefined)).toEqual({ unified: 'other', raw: 'toString' });
  });
});
