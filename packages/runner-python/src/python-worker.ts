/**
 * One worker process: `python3 -m inferkit_bridge` with the frame pipes on fds 3 (host → worker)
 * and 4 (worker → host), stdout/stderr turned into log lines, in its own process group so that
 * everything it starts (vLLM's EngineCore, Ray workers) is killed with it.
 *
 * @internal — `PythonRunner` owns workers; users never see one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Clock } from '@inferkit/inference-core';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { LineSplitter, LogTail, type PythonLogLine } from './log-tail.js';
import { parseWorkerFrame, type HostFrame, type WorkerFrame } from './protocol.js';

/** How the worker ended. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Human-readable reason: exit code meaning, signal, spawn failure or protocol violation. */
  reason: string;
  /** Last log lines, oldest first. */
  logTail: string;
  /** The worker never started (interpreter not found, ...). */
  spawnFailed: boolean;
  /** The worker broke the protocol and was killed for it. */
  protocolError: FrameError | null;
}

export interface WorkerSpec {
  python: string;
  pythonArgs: string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  logTailLines: number;
  clock: Clock;
  onFrame: (frame: WorkerFrame) => void;
  onLog: (line: PythonLogLine) => void;
  onExit: (exit: WorkerExit) => void;
}

// Exit codes of inferkit_bridge (python/inferkit_bridge/server.py and __main__.py).
const EXIT_REASONS: Record<number, string> = {
  0: 'exited normally',
  2: 'the engine failed to start',
  3: 'the engine reported itself dead',
  4: 'the worker received a malformed frame',
  64: 'the frame pipes were not open in the worker',
  65: 'the interpreter is older than Python 3.10',
  130: 'interrupted',
};

/** After SIGKILL to the group, how long shutdown waits for its other members to be gone. */
const GROUP_EXIT_WAIT_MS = 2_000;

/** Time allowed, after the process exits, for its last output to arrive before reporting. */
const DRAIN_AFTER_EXIT_MS = 250;

export class PythonWorker {
  readonly pid: number | undefined;
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private readonly fromWorker: Readable;
  private readonly decoder: FrameDecoder;
  private readonly tail: LogTail;
  private readonly spec: WorkerSpec;
  private protocolError: FrameError | null;
  private exitReported: boolean;
  private exitedFlag: boolean;
  private readonly exitPromise: Promise<void>;
  private resolveExit!: () => void;

  constructor(spec: WorkerSpec) {
    this.spec = spec;
    this.decoder = new FrameDecoder();
    this.tail = new LogTail(spec.logTailLines);
    this.protocolError = null;
    this.exitReported = false;
    this.exitedFlag = false;
    this.exitPromise = new Promise((resolve) => (this.resolveExit = resolve));
    this.child = spawn(spec.python, [...spec.pythonArgs, '-m', 'inferkit_bridge', '--in-fd', '3', '--out-fd', '4'], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      // Own process group: close()/kill() signal the whole group, grandchildren included, and a
      // Ctrl-C meant for Node does not hit the worker before Node can shut it down in order.
      detached: true,
      windowsHide: true,
    });
    this.pid = this.child.pid;
    this.toWorker = this.child.stdio[3] as Writable;
    this.fromWorker = this.child.stdio[4] as Readable;
    const stdout = this.child.stdout!;
    const stderr = this.child.stderr!;
    // Pipe errors (EPIPE after a crash) surface through 'exit'; unhandled they would crash Node.
    for (const stream of [this.toWorker, this.fromWorker, stdout, stderr]) stream.on('error', noop);

    const pid = this.pid ?? -1;
    const outLines = new LineSplitter((line) => this.log({ stream: 'stdout', line, pid }));
    const errLines = new LineSplitter((line) => this.log({ stream: 'stderr', line, pid }));
    stdout.on('data', (chunk: Buffer) => outLines.push(chunk));
    stderr.on('data', (chunk: Buffer) => errLines.push(chunk));
    const ended = Promise.all([once(stdout, 'close'), once(stderr, 'close')]).then(() => {
      outLines.end();
      errLines.end();
    });
    this.fromWorker.on('data', (chunk: Buffer) => this.onData(chunk));

    this.child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.pid !== undefined) return; // errors of a running child arrive as 'exit'
      this.report({
        code: null,
        signal: null,
        reason: `could not start ${spec.python}: ${err.code ?? err.message}`,
        logTail: this.tail.text(),
        spawnFailed: true,
        protocolError: null,
      });
    });
    this.child.on('exit', (code, signal) => {
      this.exitedFlag = true;
      // Give the last log lines (often a traceback) a moment to arrive, bounded: grandchildren
      // that inherited stdout can keep it open forever.
      const timer = spec.clock.setTimeout(finish, DRAIN_AFTER_EXIT_MS);
      let done = false;
      const self = this;
      function finish(): void {
        if (done) return;
        done = true;
        spec.clock.clearTimeout(timer);
        self.report({
          code,
          signal,
          reason: self.describe(code, signal),
          logTail: self.tail.text(),
          spawnFailed: false,
          protocolError: self.protocolError,
        });
      }
      ended.then(finish, finish);
    });
  }

  /** Whether the process has exited (or never started). */
  get exited(): boolean {
    return this.exitedFlag || this.exitReported;
  }

  /** Resolves once the exit has been reported. */
  waitForExit(): Promise<void> {
    return this.exitPromise;
  }

  /** Last log lines, oldest first. */
  logTail(): string {
    return this.tail.text();
  }

  send(frame: HostFrame): void {
    if (this.exited) return;
    this.toWorker.write(encodeFrame(frame));
  }

  /** SIGKILL to the whole process group. Safe to call at any time. */
  kill(): void {
    killGroup(this.pid, 'SIGKILL');
  }

  /**
   * Asks the worker to shut down, waits up to `graceMs` for it to exit, then kills the group.
   * The group is killed in any case, so nothing the worker started outlives it.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.exited) {
      this.send({ type: 'shutdown' });
      this.toWorker.end();
      let timer: unknown;
      await Promise.race([
        this.exitPromise,
        new Promise<void>((resolve) => (timer = this.spec.clock.setTimeout(resolve, graceMs))),
      ]);
      this.spec.clock.clearTimeout(timer);
    }
    this.kill();
    await this.exitPromise;
    await groupGone(this.pid, GROUP_EXIT_WAIT_MS);
  }

  private onData(chunk: Buffer): void {
    if (this.protocolError !== null) return;
    let frames: unknown[];
    try {
      frames = this.decoder.push(chunk);
      for (let i = 0; i < frames.length; i++) this.spec.onFrame(parseWorkerFrame(frames[i]));
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      // The stream cannot be resynchronised: the worker is unusable. Kill it; the exit report
      // carries the reason to every waiting request.
      this.protocolError = err;
      this.kill();
    }
  }

  private log(line: PythonLogLine): void {
    this.tail.push(line.stream === 'stderr' ? line.line : `[stdout] ${line.line}`);
    try {
      this.spec.onLog(line);
    } catch {
      // A throwing log sink must not take the bridge down.
    }
  }

  private describe(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.protocolError !== null) return `was killed after sending a malformed frame (${this.protocolError.message})`;
    if (signal !== null) return `was killed by ${signal}`;
    if (code !== null) return `exited with code ${code}${EXIT_REASONS[code] ? ` (${EXIT_REASONS[code]})` : ''}`;
    return 'exited';
  }

  private report(exit: WorkerExit): void {
    if (this.exitReported) return;
    this.exitReported = true;
    this.resolveExit();
    this.spec.onExit(exit);
  }
}

/** Signals a process group; a group that is already gone is not an error. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Resolves once no process of the group is left, or after `timeoutMs`. Signal delivery is
 * asynchronous: without this, close() could return while a killed grandchild is still running.
 * Zombies (dead, waiting for PID 1 to reap them) are not waited for: they run nothing.
 */
async function groupGone(pgid: number | undefined, timeoutMs: number): Promise<void> {
  if (pgid === undefined) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return; // ESRCH: the group is empty
    }
    if (onlyZombies(pgid)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** True when every member of the group is a zombie (Linux /proc); false when unknown. */
function onlyZombies(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return false;
  }
  return true;
}

function once(stream: Readable, event: string): Promise<void> {
  return new Promise((resolve) => stream.once(event, () => resolve()));
}

function noop(): void {}
