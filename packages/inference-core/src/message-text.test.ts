import { describe, expect, test } from 'vitest';
import { InferenceError } from './inference-error.js';
import { messageText } from './message-text.js';

describe('messageText', () => {
  test('strings and text parts become one string', () => {
    expect(messageText('hi')).toBe('hi');
    expect(messageText([{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }])).toBe('ab');
  });

  test('an image part is refused with bad_request naming the part, never dropped', () => {
    try {
      messageText([{ type: 'text', text: 'look:' }, { type: 'image_url', url: 'https://x/cat.png' }], 'messages[3].content', 'r9');
      expect.unreachable();
    } catch (e) {
      expect(InferenceError.isInstance(e) && e.kind).toBe('bad_request');
      expect((e as InferenceError<'bad_request'>).details.param).toBe('messages[3].content');
      expect((e as InferenceError).requestId).toBe('r9');
      expect((e as Error).message).toContain('"image_url"');
    }
  });

  test('malformed content is refused', () => {
    expect(() => messageText(7 as never)).toThrow(/must be a string or an array/);
    expect(() => messageText([null] as never)).toThrow(/not a content part/);
    expect(() => messageText([{ type: 'text', text: 5 }] as never)).toThrow(/text must be a string/);
  });
});
