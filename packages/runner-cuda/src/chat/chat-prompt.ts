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

interface TemplateMessage {
  role: string;
  content: string;
  name?: string;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
}

/** Renders a conversation with the model's chat template (or the plain one) into prompt text. */
export class ChatPrompt {
  private readonly template: Template;
  private readonly context: ChatTemplateContext;
  /** Whether the model's own template is used (its text already contains BOS where wanted). */
  readonly modelTemplate: boolean;

  constructor(source: string | undefined, context: ChatTemplateContext) {
    this.modelTemplate = source !== undefined;
    this.context = context;
    try {
      this.template = new Template(source ?? PLAIN_CHAT_TEMPLATE);
    } catch (e) {
      throw new InferenceError('bad_request', `the model's chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
  }

  render(messages: Message[]): string {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new InferenceError('bad_request', 'messages must be a non-empty array', { details: { param: 'messages' } });
    }
    const items: TemplateMessage[] = messages.map((m, i) => {
      if (m === null || typeof m !== 'object' || !['system', 'user', 'assistant', 'tool'].includes(m.role)) {
        throw new InferenceError('bad_request', `messages[${i}].role must be system, user, assistant or tool`, { details: { param: `messages[${i}].role` } });
      }
      const out: TemplateMessage = { role: m.role, content: messageText(m.content, `messages[${i}].content`) };
      if (m.name !== undefined) out.name = m.name;
      if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
      if (m.toolCalls !== undefined) {
        out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      }
      return out;
    });
    try {
      return this.template.render({
        messages: items,
        add_generation_prompt: true,
        bos_token: this.context.bosToken ?? '',
        eos_token: this.context.eosToken ?? '',
        add_bos: this.context.addBos,
      });
    } catch (e) {
      // Templates reject conversations they cannot express (raise_exception), e.g. bad role order.
      throw new InferenceError('bad_request', `the chat template rejected the conversation: ${(e as Error).message}`, { cause: e });
    }
  }
}
