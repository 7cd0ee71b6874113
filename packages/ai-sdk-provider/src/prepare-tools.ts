import type { LanguageModelV3CallOptions, SharedV3Warning } from '@ai-sdk/provider';
import type { ToolChoice, ToolDefinition } from '@inferkit/inference-core';

/** What `prepareTools` puts into the batch (both absent when no tool is sent). */
export interface PreparedTools {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

/**
 * The call's function tools and tool choice as `ExecuteBatch.tools` / `toolChoice`. A runner that
 * does not declare `capabilities().tools` gets neither, with an `unsupported` warning (the AI SDK's
 * way for settings a model cannot honour); so do provider-defined tools, which no inferkit runner
 * executes. Input examples have no place in a `ToolDefinition` and are reported the same way.
 */
export function prepareTools(
  tools: LanguageModelV3CallOptions['tools'],
  toolChoice: LanguageModelV3CallOptions['toolChoice'],
  runnerHasTools: boolean,
  modelId: string,
  warnings: SharedV3Warning[],
): PreparedTools {
  if (tools === undefined || tools.length === 0) return {};
  if (!runnerHasTools) {
    warnings.push({
      type: 'unsupported',
      feature: 'tools',
      details: `the runner of model '${modelId}' does not declare capabilities().tools, so the tools were not sent`,
    });
    return {};
  }
  const definitions: ToolDefinition[] = [];
  for (const tool of tools) {
    if (tool.type !== 'function') {
      warnings.push({ type: 'unsupported', feature: `provider-defined tool ${tool.id}`, details: 'inferkit runners take function tools only' });
      continue;
    }
    const definition: ToolDefinition = { name: tool.name, parameters: tool.inputSchema as Record<string, unknown> };
    if (tool.description !== undefined) definition.description = tool.description;
    if (tool.strict !== undefined) definition.strict = tool.strict;
    if (tool.inputExamples !== undefined && tool.inputExamples.length > 0) {
      warnings.push({ type: 'unsupported', feature: 'tool input examples', details: `the input examples of tool '${tool.name}' were not sent` });
    }
    definitions.push(definition);
  }
  if (definitions.length === 0) return {};
  const prepared: PreparedTools = { tools: definitions };
  if (toolChoice !== undefined) {
    prepared.toolChoice = toolChoice.type === 'tool' ? { type: 'tool', name: toolChoice.toolName } : toolChoice.type;
  }
  return prepared;
}
