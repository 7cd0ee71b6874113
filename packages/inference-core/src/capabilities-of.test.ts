import { describe, expect, test } from 'vitest';
import { capabilitiesOf } from './capabilities-of.js';
import { rebuildCauseApplies } from './rebuild-cause-applies.js';

describe('capabilitiesOf', () => {
  test('absent method or fields mean false; only true counts', () => {
    expect(capabilitiesOf({})).toEqual({ tools: false, responseFormat: false, images: false, continuation: false, penalties: false, repetitionPenalty: false, tokenIds: false });
    const runner = { capabilities: () => ({ tools: true, continuation: 'yes' as unknown as boolean }) };
    expect(capabilitiesOf(runner)).toMatchObject({ tools: true, continuation: false, images: false });
  });
});

describe('rebuildCauseApplies', () => {
  test('manual concerns everyone; CUDA causes only local runners; remote causes only remote ones', () => {
    const local = { kind: 'local', device: 'cpu' } as const;
    const remote = { kind: 'remote', provider: 'openai' } as const;
    expect(rebuildCauseApplies('manual', local)).toBe(true);
    expect(rebuildCauseApplies('manual', remote)).toBe(true);
    expect(rebuildCauseApplies('cuda_context_poisoned', local)).toBe(true);
    expect(rebuildCauseApplies('cuda_context_poisoned', remote)).toBe(false);
    expect(rebuildCauseApplies('remote_auth_failure', local)).toBe(false);
    expect(rebuildCauseApplies('remote_config_change', remote)).toBe(true);
  });
});
