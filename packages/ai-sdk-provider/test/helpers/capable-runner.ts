import { ScriptedRunner, type ScriptedRunnerOptions } from '@inferkit/inference-core/testing';

/** The capabilities the provider reads (the core's `RunnerCapabilities` fields it uses). */
export interface Capabilities {
  tools?: boolean;
  responseFormat?: boolean;
  images?: boolean;
  penalties?: boolean;
}

/** A `ScriptedRunner` that declares exactly `capabilities` (none by default). */
export class CapableRunner extends ScriptedRunner {
  private readonly declared: Capabilities;

  constructor(options: ScriptedRunnerOptions = {}, capabilities: Capabilities = {}) {
    super(options);
    this.declared = capabilities;
  }

  capabilities(): Capabilities {
    return this.declared;
  }
}

/** Everything the provider can use declared. */
export const ALL: Capabilities = { tools: true, responseFormat: true, images: true, penalties: true };

/** Collects the AI SDK's warning log (`AI_SDK_LOG_WARNINGS`) instead of printing it. */
export function captureWarnings(): { warnings: unknown[]; restore: () => void } {
  const g = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
  const before = g.AI_SDK_LOG_WARNINGS;
  const warnings: unknown[] = [];
  g.AI_SDK_LOG_WARNINGS = (o: { warnings: unknown[] }) => warnings.push(...o.warnings);
  return {
    warnings,
    restore: () => {
      g.AI_SDK_LOG_WARNINGS = before;
    },
  };
}
