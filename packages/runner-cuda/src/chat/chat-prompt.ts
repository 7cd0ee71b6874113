import { randomBytes } from 'node:crypto';
import { InferenceError, messageText, type Message } from '@inferkit/inference-core';
import { Template } from '@huggingface/jinja';

/**
 * The template used when a model ships none: one `role: content` line per message, then the
 * assistant's turn. Plain on purpose: it invents no special tokens the model never saw.
 */
export const PLAIN_CHAT_TEMPLATE =
  "{% if add_bos and bos_token %}{{ bos_token }}{% endif %}" +
  "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}" +
  "{% if add_generation_prompt %}assistant:{% endif %}";

/** Special tokens and flags a template may refer to. */
export interface ChatTemplateContext {
  bosToken: string | undefined;
  eosToken: string | undefined;
  /** Whether a template-less prompt starts with BOS (`tokenizer_config.add_bos_token`). */
  addBos: boolean;
}

/**
 * A message as templates see it (Hugging Face field names), text only. `prefix` marks a final
 * assistant message to continue rather than answer (`Message.prefix`).
 */
export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
  tool_call_id?: string;
  /**
   * Earlier calls. `arguments` is the parsed JSON object when the text parses as one (templates
   * such as Llama 3's apply `tojson` to it), else the text as sent.
   */
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: unknown } }>;
  prefix?: boolean;
}

/** A tool as templates see it (the OpenAI shape Hugging Face templates expect in `tools`). */
export interface TemplateTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

function callArguments(text: string): unknown {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v;
  } catch {
    // Not JSON: the template gets the text as it was sent.
  }
  return text;
}

/**
 * The conversation of a batch in template form, checked: text content only (`messageText` refuses
 * image parts with `bad_request` naming the message).
 */
export function chatMessages(messages: Message[], requestId?: string): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new InferenceError('bad_request', 'messages must be a non-empty array', { details: { param: 'messages' } });
  }
  return messages.map((m, i) => {
    if (m === null || typeof m !== 'object' || !['system', 'user', 'assistant', 'tool'].includes(m.role)) {
      throw new InferenceError('bad_request', `messages[${i}].role must be system, user, assistant or tool`, { details: { param: `messages[${i}].role` } });
    }
    const out: ChatMessage = { role: m.role, content: messageText(m.content, `messages[${i}].content`, requestId) };
    if (m.name !== undefined) out.name = m.name;
    if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
    if (m.toolCalls !== undefined) {
      out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: callArguments(c.arguments) } }));
    }
    if (m.prefix === true) out.prefix = true;
    return out;
  });
}

/**
 * Renders a conversation with the model's chat template (or the plain one) into prompt text.
 *
 * A conversation whose last message is an assistant message with `prefix: true` is continued:
 * the template renders that message as it renders any assistant turn, and the text is cut where
 * the message's content ends, so the turn stays open (no end-of-turn token after it). The cut is
 * found with a marker appended to the content (random per instance, so no message can forge
 * it): it works with any template that renders the content verbatim up to its end, including
 * templates that `trim` it (the marker keeps trailing whitespace of the content in place).
 */
export class ChatPrompt {
  private readonly template: Template;
  private readonly context: ChatTemplateContext;
  private readonly marker: string;
  /** Whether the model's own template is used (its text already contains BOS where wanted). */
  readonly modelTemplate: boolean;

  constructor(source: string | undefined, context: ChatTemplateContext) {
    this.modelTemplate = source !== undefined;
    this.context = context;
    this.marker = `InferkitContinuation${randomBytes(12).toString('hex')}`;
    try {
      this.template = new Template(source ?? PLAIN_CHAT_TEMPLATE);
    } catch (e) {
      throw new InferenceError('bad_request', `the model's chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * The prompt text for `messages`: ending in the generation prompt (the assistant's turn
   * opened), or, when the last message has `prefix`, in that message's content, turn left open.
   */
  render(messages: ChatMessage[], tools?: TemplateTool[]): string {
    const last = messages[messages.length - 1];
    if (last?.prefix !== true) return this.apply(messages, true, tools);
    return this.openTurn(messages, last.content, tools);
  }

  /**
   * The prompt text a continuation by token ids goes after: what the conversation before the
   * prefix message renders to with the generation prompt, i.e. exactly the prompt of the run
   * whose tokens are being continued. (With no earlier message, the prefix message's own turn
   * header, cut as in `render`.)
   */
  renderOpenTurn(messages: ChatMessage[], tools?: TemplateTool[]): string {
    const history = messages.slice(0, -1);
    if (history.length > 0) return this.apply(history, true, tools);
    return this.openTurn(messages, '', tools);
  }

  private openTurn(messages: ChatMessage[], content: string, tools: TemplateTool[] | undefined): string {
    const i = messages.length - 1;
    const last = messages[i]!;
    const text = this.apply([...messages.slice(0, i), { ...last, content: content + this.marker }], false, tools);
    const at = text.lastIndexOf(this.marker);
    if (at < 0) {
      throw new InferenceError('bad_request', `the chat template does not render messages[${i}]'s content as given, so it cannot be continued`, {
        details: { param: `messages[${i}].prefix` },
      });
    }
    return text.slice(0, at);
  }

  private apply(messages: ChatMessage[], addGenerationPrompt: boolean, tools: TemplateTool[] | undefined): string {
    const items = messages.map(({ prefix: _prefix, ...m }) => m);
    try {
      return this.template.render({
        messages: items,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.context.bosToken ?? '',
        eos_token: this.context.eosToken ?? '',
        add_bos: this.context.addBos,
        // Absent rather than empty without tools: templates test `if tools`, some `tools is not none`.
        ...(tools !== undefined ? { tools } : {}),
      });
    } catch (e) {
      // Templates reject conversations they cannot express (raise_exception), e.g. bad role order.
      throw new InferenceError('bad_request', `the chat template rejected the conversation: ${(e as Error).message}`, { cause: e });
    }
  }
}
