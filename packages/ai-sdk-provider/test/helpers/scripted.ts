import type { RunnerCapabilities } from '@inferkit/inference-core';
import { ScriptedRunner, type ScriptedRunnerOptions } from '@inferkit/inference-core/testing';

/** A `ScriptedRunner` declaring exactly `capabilities`: none unless given. */
export function scripted(options: ScriptedRunnerOptions, capabilities: RunnerCapabilities = {}): ScriptedRunner {
  return new ScriptedRunner({ ...options, capabilities });
}

/** Everything the provider can use. */
export const ALL: RunnerCapabilities = { tools: true, responseFormat: true, images: true, penalties: true };

/** Collects the AI SDK's warning log (`AI_SDK_LOG_WARNINGS`) instead of printing it. */
export function captureWarnings(): { warnings: unknown[]; restore: () => void } {
  const g = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
  const before = g.AI_SDK_LOG_WARNINGS;
  const warnings: unknown[] = [];
  // ai 6 passes { warnings, provider, model }; ai 5 passes the array.
  g.AI_SDK_LOG_WARNINGS = (o: unknown[] | { warnings: unknown[] }) => warnings.push(...(Array.isArray(o) ? o : o.warnings));
  return {
    warnings,
    restore: () => {
      g.AI_SDK_LOG_WARNINGS = before;
    },
  };
}
