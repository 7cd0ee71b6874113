import { describe, expect, test } from 'vitest';
import { StopSequenceMatcher } from '../src/tokenizer/stop-sequence-matcher.js';

function feed(stops: string[], pieces: string[]): { text: string; stopped: boolean; at: number } {
  const m = new StopSequenceMatcher(stops);
  let text = '';
  for (let i = 0; i < pieces.length; i++) {
    const r = m.push(pieces[i]!);
    text += r.text;
    if (r.stopped) return { text, stopped: true, at: i };
  }
  return { text: text + m.flush(), stopped: false, at: -1 };
}

describe('StopSequenceMatcher', () => {
  test('a stop string inside one chunk cuts the text before it', () => {
    expect(feed(['END'], ['hello END world'])).toEqual({ text: 'hello ', stopped: true, at: 0 });
  });

  test('a stop string spread over chunks is found and never partly emitted', () => {
    const m = new StopSequenceMatcher(['</s>']);
    expect(m.push('abc<')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('/')).toEqual({ text: '', stopped: false });
    expect(m.push('s>tail')).toEqual({ text: '', stopped: true });
  });

  test('held-back text is released once it can no longer become a stop string', () => {
    const m = new StopSequenceMatcher(['STOP']);
    expect(m.push('a ST')).toEqual({ text: 'a ', stopped: false });
    expect(m.push('AR')).toEqual({ text: 'STAR', stopped: false });
    expect(m.push('S')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('S');
  });

  test('the earliest of several stop strings wins', () => {
    expect(feed(['world', 'lo'], ['hello world'])).toEqual({ text: 'hel', stopped: true, at: 0 });
  });

  test('without stop strings everything passes straight through', () => {
    const m = new StopSequenceMatcher([]);
    expect(m.push('abc')).toEqual({ text: 'abc', stopped: false });
    expect(m.flush()).toBe('');
  });

  test('multi-byte characters in stop strings', () => {
    expect(feed(['😀'], ['ok ', '\uD83D', '\uDE00', ' more'])).toEqual({ text: 'ok ', stopped: true, at: 2 });
  });
});
