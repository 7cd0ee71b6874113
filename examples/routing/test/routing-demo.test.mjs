// `node routing.mjs` end to end: the reference answer, the same answer after the serving
// replica's engine was killed mid-stream (resumed on the other replica), and the hosted fallback.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { runProgram } from '../../shared/run-program.mjs';

const PROGRAM = join(dirname(fileURLToPath(import.meta.url)), '..', 'routing.mjs');

const run = (args) => runProgram(PROGRAM, args, { timeoutMs: 120_000 });

describe('examples/routing routing.mjs', () => {
  test('a replica killed mid-answer: the answer still finishes, identical; with both replicas down the hosted fallback answers', async () => {
    const r = await run(['--kill-after', '20']);
    expect(r.stderr).not.toMatch(/failed:/);
    expect(r.code).toBe(0);
    const [reference, resumed, hosted, rest] = r.stdout.split('\n');
    // The embedded model's greedy story, told twice the same way.
    expect(reference).toMatch(/^(Once upon a time|One day|There was once)/);
    expect(resumed).toBe(reference);
    expect(hosted).toBe('This answer comes from the hosted fallback.');
    expect(rest).toBe('');
    const kill = /\[SIGKILL to the engine of local#[01] \(pid \d+\) after (\d+) tokens\]/.exec(r.stderr);
    expect(kill).not.toBeNull();
    // The first chunk that brings the count to 20 or more (a chunk holds a token or a few).
    expect(Number(kill[1])).toBeGreaterThanOrEqual(20);
    expect(Number(kill[1])).toBeLessThan(30);
    expect(r.stderr.match(/local: \[resumed: local#[01] failed \(runtime_crashed\) after \d+ characters; local#[01] continues\]/g)).toHaveLength(1);
    expect(r.stderr).toContain('identical to the answer without failure: yes');
    expect(r.stderr).toContain('chat: [failover: local failed before its first token (runtime_crashed)]');
    expect(r.stderr).toContain('(served by hosted)');
  }, 180_000);

  test('bad arguments get a clear message and exit code 2', async () => {
    const a = await run(['--kill-after', '0']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--kill-after must be a positive integer, got '0'");
    const b = await run(['--max-tokens', 'lots']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--max-tokens must be a positive integer, got 'lots'");
  });
});
