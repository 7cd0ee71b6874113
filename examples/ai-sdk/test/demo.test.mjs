// `node examples/ai-sdk/demo.mjs` end to end: the embedded model on the CPU backend, streamed
// through the AI SDK's streamText by @inferkit/ai-sdk-provider.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { runProgram } from '../../shared/run-program.mjs';

const DEMO = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo.mjs');

const run = (args, env = {}) => runProgram(DEMO, args, { env: { ...process.env, ...env } });

describe('examples/ai-sdk demo.mjs', () => {
  test('streams the trained answer of the embedded model through streamText, greedy, then usage and finish', async () => {
    const r = await run(
      ['--system', 'You are a helpful assistant.', '--prompt', 'What color is the sky?', '--temperature', '0', '--max-tokens', '32'],
      { INFERKIT_DEVICE: 'cpu' },
    );
    expect(r.stderr).toMatch(/loading .*inferkit-tiny/);
    expect(r.stderr).toContain('device: cpu');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('The sky is blue on a sunny day.\n');
    expect(r.stderr).toMatch(/finish: stop, input tokens: \d+, output tokens: \d+/);
  }, 90_000);

  test('the default prompt tells a story until the token limit', async () => {
    const r = await run(['--max-tokens', '24', '--temperature', '0'], { INFERKIT_DEVICE: 'cpu' });
    expect(r.code).toBe(0);
    // The model was trained on stories that open like this; a broken path prints noise.
    expect(r.stdout).toMatch(/^(Once upon a time|One day|There was once)/);
    expect(r.stderr).toMatch(/finish: length, input tokens: \d+, output tokens: 24/);
  }, 90_000);

  test('bad arguments get a clear message and exit code 2', async () => {
    const a = await run(['--max-tokens', '0']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--max-tokens must be a positive integer, got '0'");
    const b = await run(['--model', '/nonexistent/model']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('/nonexistent/model: no such file or directory');
    const c = await run(['--temperature', 'hot']);
    expect(c.code).toBe(2);
    const d = await run(['--colour', 'red']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('usage: demo.mjs');
  });
});
