import { InferenceError, type ExecuteBatch, type ToolDefinition } from '@inferkit/inference-core';
import { templateToolSupport, type TemplateToolSupport, type ToolCallFormat } from '../tools/tool-call-format.js';
import { toolCallGrammar } from '../tools/tool-call-grammar.js';
import { GrammarBuilder } from './grammar-builder.js';
import { jsonObjectRule, jsonSchemaRule } from './json-schema-grammar.js';

/** How one request's output is constrained and read. */
export interface OutputPlan {
  /** Serialized grammar every sampled token must follow (`undefined`: free output). */
  grammar: Int32Array | undefined;
  /** Tools handed to the chat template's `tools` variable (`undefined`: none). */
  templateTools: ToolDefinition[] | undefined;
  /** Tool calls are parsed out of the reply in this format and mode. */
  toolCalls: { format: ToolCallFormat; mode: 'auto' | 'calls' } | undefined;
}

/** Compiled grammars kept (by request content), so a schema sent with every request compiles once. */
const CACHE_ENTRIES = 64;

/**
 * Turns a request's `responseFormat`, `tools` and `toolChoice` into an `OutputPlan` for one
 * loaded model: its chat template decides whether and how tools are offered and called.
 */
export class OutputPlanner {
  private readonly support: TemplateToolSupport;
  private readonly cache = new Map<string, Int32Array>();

  /**
   * @param template the model's chat template (`undefined`: none, so no tools).
   * @param specialTokenId the id of a control token by its text, if the vocabulary has it.
   */
  constructor(
    template: string | undefined,
    readonly specialTokenId: (text: string) => number | undefined,
  ) {
    this.support = templateToolSupport(template);
  }

  /** The format this model's template teaches, if it is one we parse. */
  get toolCallFormat(): ToolCallFormat | undefined {
    return this.support.kind === 'format' ? this.support.format : undefined;
  }

  /** @throws InferenceError `bad_request` naming the parameter the model cannot honour. */
  plan(batch: ExecuteBatch): OutputPlan {
    try {
      return this.planOf(batch);
    } catch (e) {
      // Schema errors are raised without the request; the caller's error names it.
      if (InferenceError.isInstance(e) && e.requestId === undefined) {
        throw new InferenceError(e.kind, e.message, { details: e.details as never, requestId: batch.requestId, cause: e });
      }
      throw e;
    }
  }

  private planOf(batch: ExecuteBatch): OutputPlan {
    const requestId = batch.requestId;
    const bad = (param: string, why: string) => new InferenceError('bad_request', `${param} ${why}`, { details: { param }, requestId });
    const rf = batch.responseFormat;
    const json = rf !== undefined && rf.type !== 'text' ? rf : undefined;
    const tools = batch.tools !== undefined && batch.tools.length > 0 ? batch.tools : undefined;
    const rawChoice = batch.toolChoice ?? 'auto';
    if (tools === undefined || rawChoice === 'none') {
      if (json === undefined) return { grammar: undefined, templateTools: undefined, toolCalls: undefined };
      return { grammar: this.compile([json], () => this.textRoot(json)), templateTools: undefined, toolCalls: undefined };
    }
    if (this.support.kind === 'none') {
      throw bad('tools', "cannot be offered to this model: its chat template does not render tools (it never reads the 'tools' variable)");
    }
    if (this.support.kind === 'unknown') {
      throw bad('tools', "cannot be offered to this model: its chat template renders tools in a call format runner-cuda does not parse (it parses Hermes/Qwen <tool_call>, Llama 3 JSON and Mistral [TOOL_CALLS] calls)");
    }
    const format = this.support.format;
    const choice = typeof rawChoice === 'object' ? { name: rawChoice.name } : rawChoice;
    if (json !== undefined && choice === 'auto' && format.name !== 'hermes') {
      throw bad('responseFormat', `cannot be combined with toolChoice 'auto' for this model's ${format.name} tool-call format (a reply could not tell a call from a JSON answer)`);
    }
    const grammar = this.compile([format.name, tools, choice, json], () => {
      const b = new GrammarBuilder('tools');
      const triggerTokenId = format.trigger !== undefined ? this.specialTokenId(format.trigger) : undefined;
      const text = json !== undefined && choice === 'auto' ? this.textRule(b, json) : undefined;
      return b.build(toolCallGrammar(b, { format, tools, choice, text, triggerTokenId }));
    });
    return { grammar, templateTools: tools, toolCalls: { format, mode: choice === 'auto' ? 'auto' : 'calls' } };
  }

  private textRule(b: GrammarBuilder, rf: NonNullable<ExecuteBatch['responseFormat']>): number {
    return rf.type === 'json_schema' ? jsonSchemaRule(b, rf.schema, 'responseFormat.schema') : jsonObjectRule(b);
  }

  private textRoot(rf: NonNullable<ExecuteBatch['responseFormat']>): Int32Array {
    const b = new GrammarBuilder(rf.type === 'json_schema' ? 'responseFormat.schema' : 'responseFormat');
    return b.build(this.textRule(b, rf));
  }

  private compile(keyParts: unknown[], build: () => Int32Array): Int32Array {
    const key = JSON.stringify(keyParts);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      // Refresh its place: Map iteration order is insertion order, so the oldest goes first.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const grammar = build();
    this.cache.set(key, grammar);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return grammar;
  }
}
