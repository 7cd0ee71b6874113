import type { ModelRunner } from '@inferkit/inference-core';

/** The capabilities this provider reads from a runner; absent = false. */
export interface DeclaredCapabilities {
  tools: boolean;
  responseFormat: boolean;
  images: boolean;
  penalties: boolean;
}

/**
 * What `runner.capabilities()` declares, with absent fields and an absent method read as `false`
 * (the contract's default). Read duck-typed so that runners built against a core without
 * `capabilities()` work too; a throwing `capabilities()` counts as declaring nothing.
 */
export function declaredCapabilities(runner: ModelRunner): DeclaredCapabilities {
  let declared: Record<string, unknown> | undefined;
  const fn = (runner as { capabilities?: unknown }).capabilities;
  if (typeof fn === 'function') {
    try {
      const value: unknown = fn.call(runner);
      if (typeof value === 'object' && value !== null) declared = value as Record<string, unknown>;
    } catch {
      declared = undefined;
    }
  }
  return {
    tools: declared?.tools === true,
    responseFormat: declared?.responseFormat === true,
    images: declared?.images === true,
    penalties: declared?.penalties === true,
  };
}
