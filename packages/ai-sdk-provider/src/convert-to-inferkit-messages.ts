import {
  InvalidPromptError,
  UnsupportedFunctionalityError,
  type LanguageModelV3DataContent,
  type LanguageModelV3Prompt,
  type LanguageModelV3ToolResultOutput,
  type SharedV3Warning,
} from '@ai-sdk/provider';
import type { ContentPart, Message, ToolCall } from '@inferkit/inference-core';

/** Options of `convertToInferkitMessages`. */
export interface ConvertMessagesOptions {
  /** Whether the runner declares `capabilities().images`. */
  images: boolean;
  /** The provider's model id, for error messages. */
  modelId: string;
  /** Warnings of the call; conversions that lose something add one here. */
  warnings: SharedV3Warning[];
}

/**
 * Converts an AI SDK prompt to inferkit messages. Whatever inferkit messages cannot carry, or the
 * runner declares it cannot take, is refused with `UnsupportedFunctionalityError` rather than
 * dropped; a malformed prompt is refused with `InvalidPromptError`. The one exception is reasoning
 * of earlier assistant turns, which the AI SDK puts into every tool loop step: `Message` has no
 * field for it, so it is left out with an `unsupported` warning instead of failing the loop.
 */
export function convertToInferkitMessages(prompt: LanguageModelV3Prompt, options: ConvertMessagesOptions): Message[] {
  if (!Array.isArray(prompt)) throw new InvalidPromptError({ prompt, message: 'the prompt must be an array of messages' });
  const messages: Message[] = [];
  let reasoningLeftOut = false;
  for (let i = 0; i < prompt.length; i++) {
    const message = prompt[i];
    const where = `prompt[${i}]`;
    if (typeof message !== 'object' || message === null) throw invalid(prompt, `${where} is not a message`);
    switch (message.role) {
      case 'system': {
        if (typeof message.content !== 'string') throw invalid(prompt, `${where}: a system message's content must be a string`);
        messages.push({ role: 'system', content: message.content });
        break;
      }
      case 'user': {
        const parts: ContentPart[] = [];
        for (const [j, part] of partsOf(prompt, message.content, where).entries()) {
          if (part.type === 'text') parts.push({ type: 'text', text: stringOf(prompt, part.text, `${where}.content[${j}].text`) });
          else if (part.type === 'file') parts.push(filePart(prompt, part.data, part.mediaType, options, `${where}.content[${j}]`));
          else throw invalid(prompt, `${where}.content[${j}] has type ${JSON.stringify(String((part as { type: unknown }).type))}, not allowed in a user message`);
        }
        messages.push({ role: 'user', content: contentOf(parts) });
        break;
      }
      case 'assistant': {
        let text = '';
        const toolCalls: ToolCall[] = [];
        for (const [j, part] of partsOf(prompt, message.content, where).entries()) {
          const at = `${where}.content[${j}]`;
          switch (part.type) {
            case 'text':
              text += stringOf(prompt, part.text, `${at}.text`);
              break;
            case 'reasoning':
              reasoningLeftOut = true;
              break;
            case 'tool-call':
              if (part.providerExecuted === true) throw unsupported('provider-executed tool calls', `${at} is a provider-executed tool call; inferkit runners execute no tools`);
              toolCalls.push({
                id: stringOf(prompt, part.toolCallId, `${at}.toolCallId`),
                name: stringOf(prompt, part.toolName, `${at}.toolName`),
                arguments: jsonText(prompt, part.input, `${at}.input`),
              });
              break;
            case 'file':
              throw unsupported('files in assistant messages', `${at} is a file (${part.mediaType}); inferkit assistant messages carry text and tool calls only`);
            case 'tool-result':
              throw unsupported('provider-executed tool results', `${at} is a tool result inside an assistant message (a provider-executed tool); inferkit runners execute no tools`);
            default:
              throw invalid(prompt, `${at} has type ${JSON.stringify(String((part as { type: unknown }).type))}, not allowed in an assistant message`);
          }
        }
        const m: Message = { role: 'assistant', content: text };
        if (toolCalls.length > 0) m.toolCalls = toolCalls;
        messages.push(m);
        break;
      }
      case 'tool': {
        for (const [j, part] of partsOf(prompt, message.content, where).entries()) {
          const at = `${where}.content[${j}]`;
          if (part.type === 'tool-result') {
            messages.push({
              role: 'tool',
              toolCallId: stringOf(prompt, part.toolCallId, `${at}.toolCallId`),
              content: toolOutputContent(prompt, part.output, options, `${at}.output`),
            });
          } else if (part.type === 'tool-approval-response') {
            throw unsupported('tool approval responses', `${at} answers a provider-executed tool's approval request; inferkit runners execute no tools`);
          } else {
            throw invalid(prompt, `${at} has type ${JSON.stringify(String((part as { type: unknown }).type))}, not allowed in a tool message`);
          }
        }
        break;
      }
      default:
        throw invalid(prompt, `${where} has role ${JSON.stringify(String((message as { role: unknown }).role))}`);
    }
  }
  if (reasoningLeftOut) {
    options.warnings.push({
      type: 'unsupported',
      feature: 'reasoning in assistant messages',
      details: 'inferkit messages have no field for reasoning, so the reasoning of earlier assistant turns was not sent to the model',
    });
  }
  return messages;
}

/** One text part stays a string (every runner takes it); anything else stays a list of parts. */
function contentOf(parts: ContentPart[]): string | ContentPart[] {
  if (parts.length === 0) return '';
  if (parts.length === 1 && parts[0]!.type === 'text') return parts[0]!.text;
  return parts;
}

function toolOutputContent(prompt: unknown, output: LanguageModelV3ToolResultOutput, options: ConvertMessagesOptions, where: string): string | ContentPart[] {
  if (typeof output !== 'object' || output === null) throw invalid(prompt, `${where} is not a tool result output`);
  switch (output.type) {
    case 'text':
    case 'error-text':
      return stringOf(prompt, output.value, `${where}.value`);
    case 'json':
    case 'error-json':
      return jsonText(prompt, output.value, `${where}.value`);
    case 'execution-denied':
      return typeof output.reason === 'string' && output.reason !== '' ? output.reason : 'Tool execution denied.';
    case 'content': {
      if (!Array.isArray(output.value)) throw invalid(prompt, `${where}.value must be an array`);
      const parts: ContentPart[] = [];
      for (const [k, item] of output.value.entries()) {
        const at = `${where}.value[${k}]`;
        switch (item.type) {
          case 'text':
            parts.push({ type: 'text', text: stringOf(prompt, item.text, `${at}.text`) });
            break;
          case 'image-data':
          case 'file-data':
            parts.push(filePart(prompt, item.data, item.mediaType, options, at));
            break;
          case 'image-url':
            parts.push(filePart(prompt, urlOf(prompt, item.url, `${at}.url`), 'image/*', options, at));
            break;
          case 'file-url':
            parts.push(filePart(prompt, urlOf(prompt, item.url, `${at}.url`), item.mediaType ?? 'application/octet-stream', options, at));
            break;
          default:
            throw unsupported(`tool result ${item.type} parts`, `${at} is a ${item.type} part; inferkit tool results carry text and images only`);
        }
      }
      return contentOf(parts);
    }
    default:
      throw invalid(prompt, `${where} has type ${JSON.stringify(String((output as { type: unknown }).type))}`);
  }
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)$/s;

/** An image file part as an inferkit image part; any other media type is refused. */
function filePart(prompt: unknown, data: LanguageModelV3DataContent, mediaType: string, options: ConvertMessagesOptions, where: string): ContentPart {
  if (typeof mediaType !== 'string' || !mediaType.toLowerCase().startsWith('image/')) {
    throw unsupported(`file parts of type ${String(mediaType)}`, `${where} is a ${String(mediaType)} file; inferkit messages carry text and images only`);
  }
  if (!options.images) {
    throw unsupported(
      'image input',
      `${where} is an image, and the runner of model '${options.modelId}' does not declare capabilities().images`,
    );
  }
  if (data instanceof URL) {
    if (data.protocol === 'data:') {
      const m = DATA_URL.exec(data.href);
      if (m === null) throw unsupported('non-base64 data URLs', `${where} is a data: URL that is not base64-encoded`);
      return imageBase64(m[3]!, mediaType, where);
    }
    return { type: 'image_url', url: data.href };
  }
  if (typeof data === 'string') return imageBase64(data, mediaType, where);
  if (data instanceof Uint8Array) return imageBytes(data, mediaType, where);
  throw invalid(prompt, `${where}.data must be a Uint8Array, a base64 string or a URL`);
}

function imageBytes(bytes: Uint8Array, mediaType: string, where: string): ContentPart {
  const mime = concreteImageType(mediaType, bytes, where);
  return { type: 'image_base64', mime, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
}

function imageBase64(data: string, mediaType: string, where: string): ContentPart {
  // Only the first bytes are decoded, to sniff the type when it is given as `image/*`.
  const mime = mediaType === 'image/*' ? concreteImageType(mediaType, Buffer.from(data.slice(0, 32), 'base64'), where) : mediaType;
  return { type: 'image_base64', mime, data };
}

/** `image/*` (the AI SDK's "some image") resolved from the bytes' signature; refused when unknown. */
function concreteImageType(mediaType: string, bytes: Uint8Array, where: string): string {
  if (mediaType !== 'image/*') return mediaType;
  const b = bytes;
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'image/gif';
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) {
    return 'image/webp';
  }
  throw unsupported('images of unknown type', `${where} is an image of unknown type (not PNG, JPEG, GIF or WebP); give its mediaType`);
}

function partsOf<T>(prompt: unknown, content: T[], where: string): T[] {
  if (!Array.isArray(content)) throw invalid(prompt, `${where}.content must be an array of parts`);
  for (let j = 0; j < content.length; j++) {
    const part = content[j];
    if (typeof part !== 'object' || part === null) throw invalid(prompt, `${where}.content[${j}] is not a part`);
  }
  return content;
}

function urlOf(prompt: unknown, value: unknown, where: string): URL {
  try {
    return new URL(stringOf(prompt, value, where));
  } catch (e) {
    if (InvalidPromptError.isInstance(e)) throw e;
    throw invalid(prompt, `${where} is not a valid URL`);
  }
}

function stringOf(prompt: unknown, value: unknown, where: string): string {
  if (typeof value !== 'string') throw invalid(prompt, `${where} must be a string`);
  return value;
}

function jsonText(prompt: unknown, value: unknown, where: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new InvalidPromptError({ prompt, message: `${where} is not JSON-serializable`, cause: e });
  }
  if (text === undefined) throw invalid(prompt, `${where} is not JSON-serializable`);
  return text;
}

function invalid(prompt: unknown, message: string): InvalidPromptError {
  return new InvalidPromptError({ prompt, message });
}

function unsupported(functionality: string, message: string): UnsupportedFunctionalityError {
  return new UnsupportedFunctionalityError({ functionality, message });
}
