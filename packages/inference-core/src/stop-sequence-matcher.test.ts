import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { StopSequenceMatcher } from './stop-sequence-matcher.js';

interface StopCase {
  name: string;
  stops: string[];
  pieces: string[];
  text: string;
  stopped: boolean;
}

const { cases } = JSON.parse(readFileSync(new URL('../test-data/stop-sequence-cases.json', import.meta.url), 'utf8')) as { cases: StopCase[] };

function feed(stops: string[], pieces: string[]): { text: string; stopped: boolean } {
  const m = new StopSequenceMatcher(stops);
  let text = '';
  for (const piece of pieces) {
    const r = m.push(piece);
    text += r.text;
    if (r.stopped) return { text, stopped: true };
  }
  return { text: text + m.flush(), stopped: false };
}

describe('StopSequenceMatcher: shared case file', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expect(feed(c.stops, c.pieces)).toEqual({ text: c.text, stopped: c.stopped });
  });
});

describe('StopSequenceMatcher', () => {
  test('a stop string spread over chunks is never partly emitted', () => {
    const m = new StopSequenceMatcher(['</s>']);
    expect(m.push('abc<')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('/')).toEqual({ text: '', stopped: false });
    expect(m.push('s>tail')).toEqual({ text: '', stopped: true });
    expect(m.stopped).toBe(true);
  });

  test('held-back text is released as soon as it can no longer become a stop string', () => {
    const m = new StopSequenceMatcher(['STOP']);
    expect(m.push('a ST')).toEqual({ text: 'a ', stopped: false });
    expect(m.push('AR')).toEqual({ text: 'STAR', stopped: false });
    expect(m.push('S')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('S');
  });

  test('after a match every later push emits nothing', () => {
    const m = new StopSequenceMatcher(['x']);
    expect(m.push('axb')).toEqual({ text: 'a', stopped: true });
    expect(m.push('more')).toEqual({ text: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  test('empty stop strings are ignored instead of matching everywhere', () => {
    const m = new StopSequenceMatcher(['', 'z']);
    expect(m.push('abc')).toEqual({ text: 'abc', stopped: false });
  });
});
