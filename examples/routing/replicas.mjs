// What the example and its tests share: replicas of the embedded model, each a CudaRunner whose
// engine runs in its own process, and a way to stop those processes between chunks so that a
// kill lands mid-answer however fast the model is.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { supervise } from '@inferkit/inference-core';
import { CudaRunner } from '@inferkit/runner-cuda';

/** The embedded model, committed at the repository root. */
export const EMBEDDED_MODEL = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'inferkit-tiny');

/** Automatic rebuilds of each replica: a crashed engine process is replaced, 3 times a minute at most. */
export const REBUILD = Object.freeze({ maxRebuilds: 3, windowMs: 60_000 });

/**
 * `n` replicas named `local#0` …: each a CPU CudaRunner with its engine in a child process (one
 * thread each: they share the machine), weights loaded, supervised with `REBUILD`.
 * `onEvent(name, event)` receives each supervisor's events.
 */
export async function startReplicas(n, { modelDir = EMBEDDED_MODEL, onEvent } = {}) {
  const raw = Array.from({ length: n }, () => new CudaRunner({ device: 'cpu', engineProcess: 'child', threads: 1 }));
  try {
    await Promise.all(raw.map((r) => r.loadWeights({ kind: 'local_path', path: modelDir })));
  } catch (e) {
    await Promise.allSettled(raw.map((r) => r.close()));
    throw e;
  }
  return raw.map((r, i) => {
    const name = `local#${i}`;
    return { name, raw: r, runner: supervise(r, { rebuild: REBUILD, onEvent: (e) => onEvent?.(name, e) }) };
  });
}

/**
 * The pid of a CudaRunner's engine process. `_engine` is the runner's internal handle; the
 * example reads it only to play the failure (a real crash needs no help).
 */
export function enginePid(runner) {
  const pid = runner._engine?.pid;
  if (typeof pid !== 'number') throw new Error('the runner has no engine process (engineProcess: "child", weights loaded)');
  return pid;
}

/**
 * Keeps engine processes stopped (SIGSTOP) except while the caller waits for output. The
 * embedded model streams a 130-token answer in about 0.1–0.2 s on one core, faster than a
 * caller can react to its 20th token; held like this, an engine produces only while a chunk is
 * awaited, so what the caller does next (kill it) happens in the middle of the answer.
 */
export class EngineHold {
  #pids;

  constructor(pids) {
    this.#pids = new Set(pids);
    this.#signal('SIGSTOP');
  }

  /** Runs `wait()` with the engines running; they are stopped again once it settles. */
  async while(wait) {
    this.#signal('SIGCONT');
    try {
      return await wait();
    } finally {
      this.#signal('SIGSTOP');
    }
  }

  /** Kills one engine process (SIGKILL works on a stopped process). */
  kill(pid) {
    process.kill(pid, 'SIGKILL');
    this.#pids.delete(pid);
  }

  /** Lets every engine run freely again. */
  release() {
    this.#signal('SIGCONT');
    this.#pids.clear();
  }

  #signal(signal) {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone (killed, or replaced by a rebuild): nothing to hold.
      }
    }
  }
}
