import { describe, expect, test } from 'vitest';
import { Redactor } from '../src/index.js';

describe('Redactor', () => {
  const r = Redactor.fromEnvironment({ OPENAI_API_KEY: 'sk-proj-abcdefghijklmnop', HF_TOKEN: 'hf_0123456789abcdefghij', DB_PASSWORD: 'correct horse', PATH: '/usr/bin:/bin', SHORT_KEY: 'abc' }, ['gateway-key-1234']);

  test('removes literal secrets: environment values named like secrets, and the extra ones', () => {
    const out = r.redact('key sk-proj-abcdefghijklmnop, token hf_0123456789abcdefghij, pw correct horse, gw gateway-key-1234');
    expect(out).not.toMatch(/abcdefghijklmnop|0123456789abcdefghij|correct horse|gateway-key-1234/);
    expect(out.match(/\[REDACTED\]/g)).toHaveLength(4);
  });

  test('leaves ordinary environment values and short secrets alone', () => {
    expect(r.redact('PATH is /usr/bin:/bin; abc')).toBe('PATH is /usr/bin:/bin; abc');
  });

  const shapes: Array<[string, string, string]> = [
    ['a bearer header', 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload', 'eyJhbGci'],
    ['an OpenAI key', 'Incorrect API key provided: sk-live-7f3a9c2b1e8d4f6a0b5c', '7f3a9c2b'],
    ['an Anthropic key', 'x-api-key sk-ant-api03-AAAABBBBCCCCDDDD', 'AAAABBBB'],
    ['a Hugging Face token', 'HF hub said hf_abcdefghijklmnopqrstuvwxyz', 'abcdefghijklmnop'],
    ['a Google key', 'key AIzaSyA1234567890abcdefghijklmnopqrstu', 'SyA1234567890'],
    ['a query key', 'GET https://host/v1beta/models?key=secretvalue123&alt=sse', 'secretvalue123'],
    ['NAME=value', "KeyError: 'HF_TOKEN=plainvalue'", 'plainvalue'],
    ['name: value', 'config {"api_key": "zzzzzz"}', 'zzzzzz'],
    ['a password', 'postgres password=hunter2hunter2', 'hunter2'],
  ];
  for (const [name, text, leak] of shapes) {
    test(`removes ${name}`, () => {
      const out = new Redactor().redact(text);
      expect(out).not.toContain(leak);
      expect(out).toContain('[REDACTED]');
    });
  }

  test('keeps words that only look like secret names', () => {
    const text = "'max_tokens' must be at most 4096; unexpected token } at position 3";
    expect(new Redactor().redact(text)).toBe(text);
  });

  test('bounds what it returns, also for huge inputs', () => {
    const out = new Redactor().redact('x'.repeat(1_000_000), 100);
    expect(out.length).toBeLessThan(200);
    expect(out).toMatch(/more characters\]$/);
  });

  test('forClient also removes file paths, keeps URLs and field names', () => {
    const out = new Redactor().forClient("messages[0].content: cannot open /home/deploy/models/x.safetensors nor C:\\models\\x.bin; see https://example.com/docs/a");
    expect(out).toBe('messages[0].content: cannot open <path> nor <path>; see https://example.com/docs/a');
  });
});
