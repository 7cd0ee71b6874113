import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';
import { describe, expect, test } from 'vitest';
import { SseEventTooLargeError, SseParser } from './sse-parser.js';

type Ev = [data: string, event: string];

interface ParserUnderTest {
  feed(chunk: Uint8Array): void;
  lastEventId(): string;
  retryMs(): number | undefined;
}

/** The shipped parser and bare eventsource-parser behind one shape, so every case runs against both. */
const implementations: Record<string, (out: Ev[]) => ParserUnderTest> = {
  inferkit: (out) => {
    const p = new SseParser((data, event) => out.push([data, event]));
    return { feed: (c) => p.feed(c), lastEventId: () => p.lastEventId, retryMs: () => p.retryMs };
  },
  'eventsource-parser': (out) => {
    let id = '';
    let retry: number | undefined;
    const decoder = new TextDecoder('utf-8');
    const p = createParser({
      onEvent: (e) => {
        if (e.id !== undefined) id = e.id;
        out.push([e.data, e.event ?? 'message']);
      },
      onRetry: (ms) => {
        retry = ms;
      },
    });
    return {
      feed: (c) => p.feed(decoder.decode(c, { stream: true })),
      lastEventId: () => id,
      retryMs: () => retry,
    };
  },
};

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

function parseAll(make: (out: Ev[]) => ParserUnderTest, chunks: Uint8Array[]): Ev[] {
  const out: Ev[] = [];
  const p = make(out);
  for (const c of chunks) p.feed(c);
  return out;
}

/** Deterministic PRNG (mulberry32) so failures reproduce from the printed seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(bytes: Buffer, next: () => number): Buffer[] {
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    // Mostly tiny pieces (1–3 bytes) to hit every boundary, sometimes large ones.
    const n = next() < 0.7 ? 1 + Math.floor(next() * 3) : 1 + Math.floor(next() * 200);
    parts.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return parts;
}

const fixtureDir = fileURLToPath(new URL('..', import.meta.url));
const transcripts = ['openai', 'anthropic', 'gemini'].flatMap((p) =>
  readdirSync(join(fixtureDir, p, '__fixtures__'))
    .filter((f) => f.endsWith('.chunks.txt'))
    .map((f) => ({ name: `${p}/${f}`, bytes: readFileSync(join(fixtureDir, p, '__fixtures__', f)) })),
);

for (const [name, make] of Object.entries(implementations)) {
  describe(`SSE parsing (${name})`, () => {
    test('LF, CRLF and lone CR line ends give the same events', () => {
      const body = 'event: a\n: comment\ndata: 1\ndata: 2\n\ndata: 3\n\n';
      const expected: Ev[] = [
        ['1\n2', 'a'],
        ['3', 'message'],
      ];
      expect(parseAll(make, [enc(body)])).toEqual(expected);
      expect(parseAll(make, [enc(body.replaceAll('\n', '\r\n'))])).toEqual(expected);
      // A trailing lone CR might be half of a CRLF, so one more byte lets every parser decide.
      expect(parseAll(make, [enc(body.replaceAll('\n', '\r')), enc(': end\r')])).toEqual(expected);
    });

    test('CR at the end of one chunk and LF at the start of the next make one line end', () => {
      expect(parseAll(make, [enc('data: x\r'), enc('\n\r'), enc('\ndata: y\r\n\r\n')])).toEqual([
        ['x', 'message'],
        ['y', 'message'],
      ]);
    });

    test('one leading space is removed from the value, no more', () => {
      expect(parseAll(make, [enc('data:x\n\ndata:  x\n\ndata\n\ndata:\n\n')])).toEqual([
        ['x', 'message'],
        [' x', 'message'],
        ['', 'message'],
        ['', 'message'],
      ]);
    });

    test('comments, unknown fields and data-less events fire nothing', () => {
      expect(parseAll(make, [enc(': keep-alive\n\nfoo: bar\n\nevent: ping\n\n')])).toEqual([]);
    });

    test('the event type resets after each dispatch', () => {
      expect(parseAll(make, [enc('event: a\ndata: 1\n\ndata: 2\n\n')])).toEqual([
        ['1', 'a'],
        ['2', 'message'],
      ]);
    });

    test('a leading BOM is stripped once, even when split across chunks', () => {
      const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc('data: a\n\n')]);
      expect(parseAll(make, [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)])).toEqual([
        ['a', 'message'],
      ]);
    });

    test('multi-byte UTF-8 split between chunks decodes whole', () => {
      const bytes = enc('data: héllo 🌍 wörld\n\n');
      const out = parseAll(make, [...bytes].map((b) => Buffer.from([b])));
      expect(out).toEqual([['héllo 🌍 wörld', 'message']]);
    });

    test('id persists across events, NUL ids are ignored, retry takes digits only', () => {
      const out: Ev[] = [];
      const p = make(out);
      p.feed(enc('id: 7\nretry: 1500\ndata: a\n\nretry: 12x\ndata: b\n\nid: bad\u0000\ndata: c\n\n'));
      expect(out.map((e) => e[0])).toEqual(['a', 'b', 'c']);
      expect(p.lastEventId()).toBe('7');
      expect(p.retryMs()).toBe(1500);
    });

    test('an event without its closing blank line is not dispatched', () => {
      expect(parseAll(make, [enc('data: a\n\ndata: b\n')])).toEqual([['a', 'message']]);
    });

    for (const t of transcripts) {
      test(`random byte splits of ${t.name} yield identical events`, () => {
        const whole = parseAll(make, [t.bytes]);
        expect(whole.length).toBeGreaterThan(0);
        for (let seed = 1; seed <= 40; seed++) {
          const split = parseAll(make, randomSplit(t.bytes, rng(seed)));
          expect(split, `seed ${seed}`).toEqual(whole);
        }
      });
    }
  });
}

describe('SseParser bounds', () => {
  test('a 10 MB line fails fast with a clear error and bounded memory', () => {
    const parser = new SseParser(() => undefined, 1024 * 1024);
    const piece = Buffer.alloc(64 * 1024, 0x61);
    parser.feed(enc('data: '));
    let fed = 0;
    let error: unknown;
    try {
      while (fed < 10 * 1024 * 1024) {
        parser.feed(piece);
        fed += piece.length;
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SseEventTooLargeError);
    expect((error as SseEventTooLargeError).limitBytes).toBe(1024 * 1024);
    // It stops within one chunk of the limit instead of buffering all 10 MB.
    expect(fed).toBeLessThanOrEqual(1024 * 1024);
  });

  test('many data lines adding up past the limit fail too', () => {
    const parser = new SseParser(() => undefined, 1000);
    expect(() => parser.feed(enc('data: 0123456789\n'.repeat(100)))).toThrow(SseEventTooLargeError);
  });

  test('the limit applies per event, not per stream', () => {
    const out: string[] = [];
    const parser = new SseParser((d) => out.push(d), 100);
    for (let i = 0; i < 1000; i++) parser.feed(enc(`data: event number ${i}\n\n`));
    expect(out).toHaveLength(1000);
  });

  test('end() discards an unterminated event and the parser can be dropped', () => {
    const out: string[] = [];
    const parser = new SseParser((d) => out.push(d));
    parser.feed(enc('data: a\n\ndata: {"partial'));
    parser.end();
    expect(out).toEqual(['a']);
  });

  test('an invalid limit is rejected at construction', () => {
    expect(() => new SseParser(() => undefined, 0)).toThrow(RangeError);
  });
});
