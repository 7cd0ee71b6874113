import { expect, test } from 'vitest';
import { LineSplitter, LogTail } from './log-tail.js';

test('LogTail keeps the last lines, oldest first', () => {
  const tail = new LogTail(3);
  expect(tail.text()).toBe('');
  for (const line of ['a', 'b', 'c', 'd', 'e']) tail.push(line);
  expect(tail.text()).toBe('c\nd\ne');
});

test('LineSplitter handles chunk boundaries, CRLF, split UTF-8 and a last line without newline', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  const bytes = Buffer.from('one\r\ntwo é\nthree', 'utf8');
  for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1));
  expect(lines).toEqual(['one', 'two é']);
  splitter.end();
  expect(lines).toEqual(['one', 'two é', 'three']);
});

test('LineSplitter cuts a line that never ends', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  splitter.push(Buffer.from('x'.repeat(20_000)));
  expect(lines.length).toBe(1);
  expect(lines[0]!.length).toBe(8192);
});
