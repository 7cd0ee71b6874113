import { InvalidPromptError, UnsupportedFunctionalityError, type LanguageModelV3Prompt, type SharedV3Warning } from '@ai-sdk/provider';
import { describe, expect, test } from 'vitest';
import { convertToInferkitMessages } from './convert-to-inferkit-messages.js';
import { errorOf } from '../test/helpers/error-of.js';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]);
const WEBP = Uint8Array.from([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0x56]);

function convert(prompt: LanguageModelV3Prompt, images = true): { messages: ReturnType<typeof convertToInferkitMessages>; warnings: SharedV3Warning[] } {
  const warnings: SharedV3Warning[] = [];
  return { messages: convertToInferkitMessages(prompt, { images, modelId: 'm', warnings }), warnings };
}

describe('convertToInferkitMessages', () => {
  test('system, user, assistant and tool messages of a tool conversation', () => {
    const { messages, warnings } = convert([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking' },
          { type: 'text', text: '.' },
          { type: 'tool-call', toolCallId: 'c1', toolName: 'weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool-result', toolCallId: 'c1', toolName: 'weather', output: { type: 'json', value: { celsius: 18 } } },
          { type: 'tool-result', toolCallId: 'c2', toolName: 'weather', output: { type: 'text', value: 'sunny' } },
        ],
      },
    ]);
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'c1', name: 'weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', toolCallId: 'c1', content: '{"celsius":18}' },
      { role: 'tool', toolCallId: 'c2', content: 'sunny' },
    ]);
    expect(warnings).toEqual([]);
  });

  test('several user text parts stay parts; an empty user message is empty text', () => {
    const { messages } = convert([
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      { role: 'user', content: [] },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      { role: 'user', content: '' },
    ]);
  });

  test('every tool output kind becomes text', () => {
    const out = (output: unknown) =>
      convert([{ role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c', toolName: 't', output } as never] }]).messages[0]!.content;
    expect(out({ type: 'text', value: 'plain' })).toBe('plain');
    expect(out({ type: 'error-text', value: 'it failed' })).toBe('it failed');
    expect(out({ type: 'json', value: [1, null] })).toBe('[1,null]');
    expect(out({ type: 'error-json', value: { error: 'no' } })).toBe('{"error":"no"}');
    expect(out({ type: 'execution-denied', reason: 'the user said no' })).toBe('the user said no');
    expect(out({ type: 'execution-denied' })).toBe('Tool execution denied.');
    expect(out({ type: 'content', value: [{ type: 'text', text: 'only text' }] })).toBe('only text');
    expect(out({ type: 'content', value: [{ type: 'text', text: 'see' }, { type: 'image-data', data: 'aGk=', mediaType: 'image/png' }] })).toEqual([
      { type: 'text', text: 'see' },
      { type: 'image_base64', mime: 'image/png', data: 'aGk=' },
    ]);
    expect(out({ type: 'content', value: [{ type: 'image-url', url: 'https://example.com/a.png' }] })).toEqual([
      { type: 'image_url', url: 'https://example.com/a.png' },
    ]);
    const e = errorOf(() => out({ type: 'content', value: [{ type: 'file-id', fileId: 'f1' }] }));
    expect(UnsupportedFunctionalityError.isInstance(e)).toBe(true);
    expect(errorOf(() => out({ type: 'content', value: [{ type: 'image-url', url: 'not a url' }] }))).toBeInstanceOf(InvalidPromptError);
  });

  test('images: bytes, base64, URLs and data URLs; image/* resolved from the signature', () => {
    const user = (part: unknown) => convert([{ role: 'user', content: [part as never] }]).messages[0]!.content;
    expect(user({ type: 'file', mediaType: 'image/png', data: PNG })).toEqual([{ type: 'image_base64', mime: 'image/png', data: Buffer.from(PNG).toString('base64') }]);
    expect(user({ type: 'file', mediaType: 'image/*', data: JPEG })).toEqual([{ type: 'image_base64', mime: 'image/jpeg', data: Buffer.from(JPEG).toString('base64') }]);
    expect(user({ type: 'file', mediaType: 'image/*', data: Buffer.from(WEBP).toString('base64') })).toEqual([
      { type: 'image_base64', mime: 'image/webp', data: Buffer.from(WEBP).toString('base64') },
    ]);
    expect(user({ type: 'file', mediaType: 'image/jpeg', data: new URL('https://example.com/cat.jpg') })).toEqual([
      { type: 'image_url', url: 'https://example.com/cat.jpg' },
    ]);
    expect(user({ type: 'file', mediaType: 'image/*', data: new URL(`data:image/png;base64,${Buffer.from(PNG).toString('base64')}`) })).toEqual([
      { type: 'image_base64', mime: 'image/png', data: Buffer.from(PNG).toString('base64') },
    ]);
    // A view into a larger buffer encodes only its own bytes.
    const view = new Uint8Array([0, ...PNG, 0]).subarray(1, 1 + PNG.length);
    expect(user({ type: 'file', mediaType: 'image/png', data: view })).toEqual([{ type: 'image_base64', mime: 'image/png', data: Buffer.from(PNG).toString('base64') }]);
  });

  test('what cannot be represented or is not declared is refused with UnsupportedFunctionalityError', () => {
    const cases: Array<[LanguageModelV3Prompt, boolean, string]> = [
      [[{ role: 'user', content: [{ type: 'file', mediaType: 'image/png', data: PNG }] }], false, 'image input'],
      [[{ role: 'user', content: [{ type: 'file', mediaType: 'application/pdf', data: PNG }] }], true, 'file parts of type application/pdf'],
      [[{ role: 'user', content: [{ type: 'file', mediaType: 'image/*', data: Uint8Array.from([1, 2, 3, 4]) }] }], true, 'images of unknown type'],
      [[{ role: 'user', content: [{ type: 'file', mediaType: 'image/png', data: new URL('data:image/png,raw') }] }], true, 'non-base64 data URLs'],
      [[{ role: 'assistant', content: [{ type: 'file', mediaType: 'image/png', data: PNG }] }], true, 'files in assistant messages'],
      [[{ role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c', toolName: 't', input: {}, providerExecuted: true }] }], true, 'provider-executed tool calls'],
      [
        [{ role: 'assistant', content: [{ type: 'tool-result', toolCallId: 'c', toolName: 't', output: { type: 'text', value: 'x' } }] }],
        true,
        'provider-executed tool results',
      ],
      [[{ role: 'tool', content: [{ type: 'tool-approval-response', approvalId: 'a', approved: true }] }], true, 'tool approval responses'],
    ];
    for (const [prompt, images, functionality] of cases) {
      const e = errorOf(() => convert(prompt, images));
      expect(UnsupportedFunctionalityError.isInstance(e), functionality).toBe(true);
      expect((e as UnsupportedFunctionalityError).functionality).toBe(functionality);
    }
  });

  test('reasoning of earlier turns is left out with a warning, once', () => {
    const { messages, warnings } = convert([
      { role: 'assistant', content: [{ type: 'reasoning', text: 'hmm' }, { type: 'text', text: 'A' }] },
      { role: 'assistant', content: [{ type: 'reasoning', text: 'hmm again' }] },
    ]);
    expect(messages).toEqual([
      { role: 'assistant', content: 'A' },
      { role: 'assistant', content: '' },
    ]);
    expect(warnings).toEqual([{ type: 'unsupported', feature: 'reasoning in assistant messages', details: expect.any(String) }]);
  });

  test('a malformed prompt is refused with InvalidPromptError naming the place', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: Array<[unknown, string]> = [
      [{ role: 'user' }, 'prompt must be an array'],
      [[null], 'prompt[0] is not a message'],
      [[{ role: 'narrator', content: 'x' }], 'prompt[0] has role "narrator"'],
      [[{ role: 'system', content: ['x'] }], "prompt[0]: a system message's content must be a string"],
      [[{ role: 'user', content: 'x' }], 'prompt[0].content must be an array of parts'],
      [[{ role: 'user', content: [{ type: 'reasoning', text: 'x' }] }], 'prompt[0].content[0] has type "reasoning"'],
      [[{ role: 'user', content: [{ type: 'text', text: 3 }] }], 'prompt[0].content[0].text must be a string'],
      [[{ role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c', toolName: 't', input: cyclic }] }], 'prompt[0].content[0].input is not JSON-serializable'],
      [[{ role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c', toolName: 't', input: undefined }] }], 'is not JSON-serializable'],
      [[{ role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c', toolName: 't', output: { type: 'audio' } }] }], 'output has type "audio"'],
    ];
    for (const [prompt, message] of cases) {
      const e = errorOf(() => convert(prompt as LanguageModelV3Prompt));
      expect(InvalidPromptError.isInstance(e), message).toBe(true);
      expect((e as Error).message).toContain(message);
    }
  });
});
