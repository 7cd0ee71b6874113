// `pnpm demo` end to end: the quickstart program loads the embedded model on the CPU backend,
// streams a completion and prints its statistics.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { MODEL_DIR } from './model-fixture.mjs';
import { runProgram } from '../../shared/run-program.mjs';

const DEMO = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo.mjs');

const run = (args, env = {}) => runProgram(DEMO, args, { env: { ...process.env, ...env } });

describe('examples/quickstart demo.mjs', () => {
  test('streams a story from the embedded model and reports tokens and speed', async () => {
    const r = await run(['--prompt', 'Tell me a story about a dog.', '--max-tokens', '48', '--temperature', '0'], { INFERKIT_DEVICE: 'cpu' });
    expect(r.stderr).toMatch(/loading .*inferkit-tiny/);
    expect(r.stderr).toMatch(/load \[#{20}\] 100%/);
    expect(r.stderr).toContain('device: cpu');
    expect(r.code).toBe(0);
    // The model was trained on stories that open like this; a broken engine prints noise.
    expect(r.stdout).toMatch(/^(Once upon a time|One day|There was once)/);
    expect(r.stderr).toMatch(/prompt tokens: \d+, completion tokens: 48, finish: length/);
    expect(r.stderr).toMatch(/speed: \d+(\.\d)? tokens\/s \(cpu\)/);
  }, 90_000);

  test('--model, --system and a pnpm-style leading -- reach the model: the trained answer, greedy', async () => {
    const r = await run(
      ['--', '--model', MODEL_DIR, '--system', 'You are a helpful assistant.', '--prompt', 'What color is the sky?', '--temperature', '0', '--max-tokens', '32'],
      { INFERKIT_DEVICE: 'cpu' },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`loading ${MODEL_DIR}`);
    expect(r.stdout).toBe('The sky is blue on a sunny day.\n');
    expect(r.stderr).toMatch(/finish: stop/);
  }, 90_000);

  test('bad arguments get a clear message and exit code 2', async () => {
    const a = await run(['--max-tokens', 'many']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--max-tokens must be a positive integer, got 'many'");
    const b = await run(['--model', '/nonexistent/model']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('no config.json there');
    const c = await run(['--temperature', '9']);
    expect(c.code).toBe(2);
  });
});
