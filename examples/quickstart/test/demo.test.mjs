// `pnpm demo` end to end: the quickstart program loads the embedded model on the CPU backend,
// streams a completion and prints its statistics.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  test('--model takes a GGUF file: it reaches the runner, whose typed error on a broken file is shown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferkit-demo-'));
    try {
      const file = join(dir, 'broken.gguf');
      writeFileSync(file, Buffer.from('GGUF\x03\x00\x00\x00', 'latin1'));
      const r = await run(['--model', file], { INFERKIT_DEVICE: 'cpu' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('could not load the model: bad_request: ');
      expect(r.stderr).toContain('broken.gguf');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

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
    expect(b.stderr).toContain('/nonexistent/model: no such file or directory');
    const empty = mkdtempSync(join(tmpdir(), 'inferkit-demo-'));
    try {
      const d = await run(['--model', empty]);
      expect(d.code).toBe(2);
      expect(d.stderr).toContain('no config.json and no .gguf file there');
      writeFileSync(join(empty, 'weights.bin'), 'x');
      const e = await run(['--model', join(empty, 'weights.bin')]);
      expect(e.code).toBe(2);
      expect(e.stderr).toContain('expected a .gguf file');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const c = await run(['--temperature', '9']);
    expect(c.code).toBe(2);
  });
});
