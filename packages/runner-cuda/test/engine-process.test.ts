import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceError, Tokens } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { testBinary } from '../src/binding/test-binary.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { pinnedVisibleDevices } from '../src/cuda-runner-options.js';
import { EngineProcess } from '../src/host/engine-process.js';
import { ADDON_PATH, modelDir, noEosModelDir, PACKAGE_DIR } from './helpers/paths.js';
import { editedCopy, engineGreedy, TEST_THREADS, userBatch } from './helpers/runner.js';
import { errorOf } from './helpers/error-of.js';

async function childRunner(dir = noEosModelDir('llama-gqa')): Promise<CudaRunner> {
  const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess: 'child' });
  await runner.loadWeights({ kind: 'local_path', path: dir });
  return runner;
}

function enginePid(runner: CudaRunner): number {
  const engine = runner._engine;
  if (!(engine instanceof EngineProcess) || engine.pid === undefined) throw new Error('the engine is not in a child process');
  return engine.pid;
}

/** Running (a zombie waiting for a reaper that may never come in a container counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

/** Engine host processes whose parent is this test process. */
function engineChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim();
  return out === '' ? [] : out.split('\n').filter((l) => l.includes('engine-child')).map((l) => Number.parseInt(l.trim(), 10));
}

/** Runs `fn` with the process stopped (SIGSTOP), so what `fn` sends arrives at once on SIGCONT. */
async function paused<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

const greedy = (content: string, maxTokens = 24) => userBatch(content, { maxTokens, temperature: 0 });

describe('engine in a child process', () => {
  test('streams the same greedy tokens and logits as the engine in this process', async () => {
    const inProcess = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess: 'in-process' });
    await inProcess.loadWeights({ kind: 'local_path', path: modelDir('qwen2-bias') });
    const child = await childRunner(modelDir('qwen2-bias'));
    try {
      expect(inProcess._engine!.hosting).toBe('in-process');
      expect(child._engine!.hosting).toBe('child-process');
      expect(child.modelInfo).toEqual(inProcess.modelInfo);
      const prompt = [3, 17, 42, 99, 7];
      expect(await engineGreedy(child._engine!, prompt, 32)).toEqual(await engineGreedy(inProcess._engine!, prompt, 32));
      const a = await child._engine!.logits(Int32Array.from(prompt));
      const b = await inProcess._engine!.logits(Int32Array.from(prompt));
      expect(a).toBeInstanceOf(Float32Array);
      expect(Array.from(a)).toEqual(Array.from(b));
      const [x, y] = await Promise.all([child, inProcess].map(async (r) => (await r.execute(greedy('Hello there'))).collect()));
      expect(x!.text).toBe(y!.text);
      expect(x!.usage).toEqual(y!.usage);
    } finally {
      await Promise.all([inProcess.close(), child.close()]);
    }
  });

  test('a poisoned engine fails its requests with cuda_context_poisoned; rebuildSession replaces the process', async () => {
    const runner = await childRunner(noEosModelDir('qwen2-bias'));
    try {
      const baseline = (await (await runner.execute(greedy('before'))).collect()).text;
      const first = enginePid(runner);
      // Armed first: the fault then hits the request's first step. Armed after the submit, it
      // would race the request, which this tiny model finishes in a few milliseconds.
      runner._engine!.injectFault('sticky_failure');
      const inflight = await runner.execute(userBatch('long', { maxTokens: 200 }));
      const err = await errorOf(inflight.collect());
      expect(err.kind).toBe('cuda_context_poisoned');
      expect((await errorOf(runner.execute(greedy('before')))).kind).toBe('cuda_context_poisoned');
      expect((await runner._engine!.stats()).poisoned).toBe(true);

      await runner.rebuildSession('cuda_context_poisoned');
      const second = enginePid(runner);
      expect(second).not.toBe(first);
      expect(await waitGone(first)).toBe(true);
      expect((await runner._engine!.stats()).poisoned).toBe(false);
      expect((await (await runner.execute(greedy('before'))).collect()).text).toBe(baseline);
    } finally {
      await runner.close();
    }
  });

  test('a child killed with a request in flight fails it with runtime_crashed; new requests are refused until rebuildSession', async () => {
    const runner = await childRunner();
    try {
      const baseline = (await (await runner.execute(greedy('crash test'))).collect()).text;
      const pid = enginePid(runner);
      // Stopped first, so the request cannot finish before the kill lands.
      process.kill(pid, 'SIGSTOP');
      const handle = await runner.execute(userBatch('long', { maxTokens: 200 }));
      process.kill(pid, 'SIGKILL');
      const err = await errorOf(handle.collect());
      expect(err.kind).toBe('runtime_crashed');
      expect(err.details).toMatchObject({ signal: 'SIGKILL', exitCode: null });
      expect(err.countsAsCircuitFailure).toBe(true);
      const refused = await errorOf(runner.execute(greedy('after')));
      expect(refused.kind).toBe('runtime_crashed');
      expect((await errorOf(runner._engine!.stats())).kind).toBe('runtime_crashed');

      await runner.rebuildSession('manual');
      expect(enginePid(runner)).not.toBe(pid);
      expect((await (await runner.execute(greedy('crash test'))).collect()).text).toBe(baseline);
    } finally {
      await runner.close();
    }
  });

  test('close() ends the process and fails open streams with cancelled; nothing starts a new one', async () => {
    // The child is held (SIGSTOP) so that the close reaches it right behind the request. The tiny
    // model writes its 200 tokens in a few milliseconds, so on a loaded machine the child's main
    // thread can be preempted between starting the request and handling the close, and the
    // request finishes first: then it must have finished whole, and the scenario runs again
    // until a close lands on a running stream.
    let cancelledStreams = 0;
    for (let attempt = 0; attempt < 5 && cancelledStreams === 0; attempt++) {
      const runner = await childRunner();
      const pid = enginePid(runner);
      const { open, closed } = await paused(pid, async () => {
        const h = await runner.execute(userBatch('long', { maxTokens: 200 }));
        return { open: h, closed: runner.close() };
      });
      await closed;
      expect(alive(pid)).toBe(false);
      const outcome = await open.collect().catch((e: unknown) => e);
      if (outcome instanceof Tokens) {
        expect(outcome.finishReason).toBe('length');
        expect(outcome.usage?.outputTokens).toBe(200);
      } else {
        expect(InferenceError.isInstance(outcome) && outcome.kind).toBe('cancelled');
        cancelledStreams++;
      }
      expect(engineChildren()).not.toContain(pid);
      const before = engineChildren();
      expect((await errorOf(runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') }))).kind).toBe('cancelled');
      expect((await errorOf(runner.rebuildSession('manual'))).kind).toBe('cancelled');
      expect(engineChildren()).toEqual(before);
    }
    expect(cancelledStreams).toBe(1);
  });

  test("a pinned device reaches the engine process as CUDA_VISIBLE_DEVICES, and survives a rebuild", async () => {
    const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const engine = await EngineProcess.start(ADDON_PATH, { modelDir: modelDir('llama-gqa'), device: 'cpu', threads: TEST_THREADS }, undefined, {
      env: { ...process.env, CUDA_VISIBLE_DEVICES: pinnedVisibleDevices(1, { CUDA_VISIBLE_DEVICES: '4,6' }) },
    });
    try {
      expect(environOf(engine.pid!)).toContain('CUDA_VISIBLE_DEVICES=6');
      await engine.rebuild();
      expect(environOf(engine.pid!)).toContain('CUDA_VISIBLE_DEVICES=6');
    } finally {
      await engine.close();
    }
  });

  test("device 'cuda:N' names the pinned device, and is refused at load where CUDA is unusable or has no device N", async () => {
    const runner = new CudaRunner({ device: 'cuda:1', threads: TEST_THREADS });
    expect(runner.transportKind()).toEqual({ kind: 'local', device: 'cuda:1' });
    const verdict = await testBinary(ADDON_PATH);
    if (verdict.cudaUsable && verdict.cudaDeviceCount > 1) return; // a multi-GPU machine may load it
    const saved = process.env.INFERKIT_DEVICE;
    delete process.env.INFERKIT_DEVICE;
    try {
      const err = await errorOf(runner.loadWeights({ kind: 'local_path', path: modelDir('llama-gqa') }));
      expect(err.kind).toBe('bad_request');
      expect(err.details).toMatchObject({ param: 'device' });
      expect(err.message).toContain("'cuda:1'");
    } finally {
      if (saved !== undefined) process.env.INFERKIT_DEVICE = saved;
      await runner.close();
    }
  });

  test('weights the child cannot load are a typed error, and no process is left behind', async () => {
    const before = engineChildren();
    const dir = editedCopy('llama-gqa', (d) => {
      const f = join(d, 'model.safetensors');
      truncateSync(f, statSync(f).size - 100);
    });
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess: 'child' });
    const err = await errorOf(runner.loadWeights({ kind: 'local_path', path: dir }));
    expect(err.kind).toBe('bad_request');
    expect(err.message).toMatch(/lm_head\.weight|model\.[\w.]+\.weight/);
    expect(engineChildren().filter((p) => !before.includes(p))).toEqual([]);
    await runner.close();
  });

  test('aborting a load kills the loading process and rejects with cancelled', async () => {
    const before = engineChildren();
    const ac = new AbortController();
    const starting = EngineProcess.start(ADDON_PATH, { modelDir: modelDir('llama-gqa'), device: 'cpu', threads: TEST_THREADS }, undefined, {
      signal: ac.signal,
    });
    // Starting a Node process takes tens of milliseconds: the abort lands before the load ends.
    setImmediate(() => ac.abort());
    expect((await errorOf(starting)).kind).toBe('cancelled');
    expect(engineChildren().filter((p) => !before.includes(p))).toEqual([]);
  });

  test('a child that does not answer close is killed after the grace period', async () => {
    const engine = await EngineProcess.start(ADDON_PATH, { modelDir: modelDir('llama-gqa'), device: 'cpu', threads: TEST_THREADS }, undefined, {
      closeGraceMs: 300,
    });
    const pid = engine.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await engine.close();
      expect(alive(pid)).toBe(false);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('engine processes and the host process', () => {
  const script = (body: string) => `
    import { CudaRunner } from ${JSON.stringify(pathToFileURL(join(PACKAGE_DIR, 'dist', 'index.js')).href)};
    const runner = new CudaRunner({ device: 'cpu', threads: 1, engineProcess: 'child' });
    await runner.loadWeights({ kind: 'local_path', path: ${JSON.stringify(noEosModelDir('llama-gqa'))} });
    const batch = { requestId: 'r1', model: 'tiny', messages: [{ role: 'user', content: 'hi' }], sampling: { maxTokens: 8, temperature: 0 }, stream: true, estimatedTokens: 8 };
    const out = await (await runner.execute(batch)).collect();
    process.stdout.write(JSON.stringify({ pid: runner._engine.pid, finishReason: out.finishReason }) + '\\n');
    ${body}
  `;
  const host = (body: string) => spawn(process.execPath, ['--input-type=module', '-e', script(body)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = (p: ReturnType<typeof host>) =>
    new Promise<{ pid: number; finishReason: string }>((resolve, reject) => {
      let buf = '';
      p.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { pid: number; finishReason: string });
      });
      p.once('exit', (code) => reject(new Error(`host exited with ${String(code)} before reporting`)));
    });

  test('a loaded, idle runner does not keep the host alive, and its engine process exits with it', async () => {
    const p = host('');
    const report = await firstLine(p);
    expect(report.finishReason).toBe('length');
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    expect(code).toBe(0);
    expect(await waitGone(report.pid)).toBe(true);
  });

  test('a host killed with SIGKILL takes its engine process with it', async () => {
    const p = host('setInterval(() => {}, 1000);');
    const report = await firstLine(p);
    expect(alive(report.pid)).toBe(true);
    p.kill('SIGKILL');
    expect(await waitGone(report.pid)).toBe(true);
  });
});
