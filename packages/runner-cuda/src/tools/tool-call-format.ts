import { randomBytes } from 'node:crypto';
import { tokenize } from '@huggingface/jinja';

/**
 * The tool-call formats chat templates teach, told apart by what the template renders:
 * - `hermes` (Hermes, Qwen 2.5 / 3 and other ChatML templates): each call is
 *   `<tool_call>\n{"name": "fn", "arguments": {...}}\n</tool_call>`, calls separated by a newline.
 * - `llama3` (Llama 3.1+ JSON tool calling): the whole reply is `{"name": "fn", "parameters": {...}}`.
 * - `mistral`: `[TOOL_CALLS] [{"name": "fn", "arguments": {...}}, ...]` (`[TOOL_CALLS]` is a
 *   control token in Mistral vocabularies).
 */
export type ToolCallFormatName = 'hermes' | 'llama3' | 'mistral';

/** The text around calls in one format; the call object is always `{"name": "<name>", "<args key>": <args>}`. */
export interface ToolCallFormat {
  readonly name: ToolCallFormatName;
  /** Text that opens the calls of a reply (`undefined` for llama3: the reply itself is the call). */
  readonly trigger: string | undefined;
  /** After the trigger, before the first call object. */
  readonly open: string;
  /** Between two call objects (`undefined`: one call per reply). */
  readonly separator: string | undefined;
  /** After the last call object. */
  readonly close: string;
  /** Key of the arguments in the call object. */
  readonly argumentsKey: 'arguments' | 'parameters';
  /** Call ids this format's templates accept (Mistral's check for 9 alphanumerics). */
  readonly idLength: number | undefined;
}

export const TOOL_CALL_FORMATS: Readonly<Record<ToolCallFormatName, ToolCallFormat>> = {
  hermes: { name: 'hermes', trigger: '<tool_call>', open: '\n', separator: '\n</tool_call>\n<tool_call>\n', close: '\n</tool_call>', argumentsKey: 'arguments', idLength: undefined },
  llama3: { name: 'llama3', trigger: undefined, open: '', separator: undefined, close: '', argumentsKey: 'parameters', idLength: undefined },
  mistral: { name: 'mistral', trigger: '[TOOL_CALLS]', open: ' [', separator: ', ', close: ']', argumentsKey: 'arguments', idLength: 9 },
};

/** What a chat template says about tools. */
export type TemplateToolSupport =
  | { kind: 'format'; format: ToolCallFormat }
  /** The template never reads `tools` (or there is no template). */
  | { kind: 'none' }
  /** It renders tools, in a call format we do not parse. */
  | { kind: 'unknown' };

/**
 * Reads a chat template's tool support: whether it uses the `tools` variable at all, and which
 * call format its instructions and its rendering of past calls teach.
 */
export function templateToolSupport(template: string | undefined): TemplateToolSupport {
  if (template === undefined) return { kind: 'none' };
  // The variable `tools` read by the template (not the word in its prose or string literals).
  let usesTools: boolean;
  try {
    usesTools = tokenize(template).some((t: { type: string; value: string }) => t.type === 'Identifier' && t.value === 'tools');
  } catch {
    usesTools = false; // A template that does not tokenize cannot render tools (nor anything).
  }
  if (!usesTools) return { kind: 'none' };
  if (template.includes('<tool_call>')) return { kind: 'format', format: TOOL_CALL_FORMATS.hermes };
  if (template.includes('[TOOL_CALLS]')) return { kind: 'format', format: TOOL_CALL_FORMATS.mistral };
  if (template.includes('<|start_header_id|>') && template.includes('parameters')) {
    return { kind: 'format', format: TOOL_CALL_FORMATS.llama3 };
  }
  return { kind: 'unknown' };
}

/** A fresh call id: OpenAI's `call_` + 24 hex digits, or the 9 alphanumerics Mistral templates demand. */
export function newToolCallId(format: ToolCallFormat): string {
  if (format.idLength !== undefined) {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    return Array.from(randomBytes(format.idLength), (b) => alphabet[b % alphabet.length]).join('');
  }
  return `call_${randomBytes(12).toString('hex')}`;
}
