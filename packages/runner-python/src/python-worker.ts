/**
 * One worker process: `python3 -m inferkit_bridge` with the frame pipes on fds 3 (host → worker)
 * and 4 (worker → host), the liveness pipes on fds 5 and 6, stdout/stderr turned into log lines,
 * in its own process group. With `--reap` the process Node starts stays behind as a subreaper
 * (`python/inferkit_bridge/reaper.py`) that kills whatever the engine left once the serving
 * process is gone, including descendants that left the group; the group itself is killed
 * whenever the worker is gone, for whatever reason.
 *
 * Everything this class reads comes from another process and is treated as hostile: frames are
 * bounded (size, nesting) before they are parsed, and every listener turns any exception into a
 * failure of this worker (it is killed, and the exit report says why) instead of an uncaught
 * exception in the host.
 *
 * @internal — `PythonRunner` owns workers; users never see one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Clock } from '@inferkit/inference-core';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { LivenessWatchdog } from './liveness-watchdog.js';
import { LineSplitter, LogTail, type PythonLogLine } from './log-tail.js';
import { killProcessGroup, waitForGroupExit } from './process-group.js';
import { parseAliveFrame, parseWorkerFrame, type HostFrame, type LivenessFrame, type WorkerFrame } from './protocol.js';

/** Why the host gave up on a worker that was still running. */
export interface WorkerFailure {
  /**
   * `protocol`: it sent bytes that are not a valid frame; `unresponsive`: the liveness watchdog
   * tripped; `internal`: handling its output threw in the host.
   */
  kind: 'protocol' | 'unresponsive' | 'internal';
  message: string;
}

/** How the worker ended. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Human-readable reason: exit code meaning, signal, spawn failure or the failure below. */
  reason: string;
  /** Last log lines, oldest first. */
  logTail: string;
  /** The worker never started (interpreter not found, ...). */
  spawnFailed: boolean;
  /** The host killed the worker for this; null when it ended by itself or was shut down. */
  failure: WorkerFailure | null;
}

/** Liveness settings; `null` turns the watchdog off. */
export interface WorkerLiveness {
  intervalMs: number;
  timeoutMs: number;
}

export interface WorkerSpec {
  python: string;
  pythonArgs: string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  logTailLines: number;
  clock: Clock;
  liveness: WorkerLiveness | null;
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

/** After shutdown, how long to wait for the group's other members to be gone. */
const GROUP_EXIT_WAIT_MS = 2_000;

/** Time allowed, after the process exits, for its last output to arrive before reporting. */
const DRAIN_AFTER_EXIT_MS = 250;

/**
 * `kill()` asks the reaper first (SIGTERM: it kills the serving process and every descendant,
 * those outside the group included); a worker that has not exited this long after is SIGKILLed
 * with its whole group.
 */
const KILL_FALLBACK_MS = 1_000;

export class PythonWorker {
  readonly pid: number | undefined;
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private readonly fromWorker: Readable;
  private readonly livenessOut: Writable;
  private readonly livenessIn: Readable;
  private readonly decoder: FrameDecoder;
  private readonly livenessDecoder: FrameDecoder;
  private readonly tail: LogTail;
  private readonly spec: WorkerSpec;
  private readonly watchdog: LivenessWatchdog | null;
  private failure: WorkerFailure | null;
  private exitReported: boolean;
  private exitedFlag: boolean;
  private killTimer: unknown;
  private readonly exitPromise: Promise<void>;
  private resolveExit!: () => void;
  private readonly onData: (chunk: Buffer) => void;

  constructor(spec: WorkerSpec) {
    this.spec = spec;
    this.decoder = new FrameDecoder();
    this.livenessDecoder = new FrameDecoder();
    this.tail = new LogTail(spec.logTailLines);
    this.failure = null;
    this.exitReported = false;
    this.exitedFlag = false;
    this.killTimer = null;
    this.exitPromise = new Promise((resolve) => (this.resolveExit = resolve));
    this.child = spawn(
      spec.python,
      [...spec.pythonArgs, '-m', 'inferkit_bridge', '--in-fd', '3', '--out-fd', '4', '--liveness-in-fd', '5', '--liveness-out-fd', '6', '--reap'],
      {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
        // Own process group: kill() signals the whole group, grandchildren included, and a
        // Ctrl-C meant for Node does not hit the worker before Node can shut it down in order.
        detached: true,
        windowsHide: true,
      },
    );
    this.pid = this.child.pid;
    const stdio = this.child.stdio as unknown as Array<Readable | Writable>;
    this.toWorker = stdio[3] as Writable;
    this.fromWorker = stdio[4] as Readable;
    this.livenessOut = stdio[5] as Writable;
    this.livenessIn = stdio[6] as Readable;
    const stdout = this.child.stdout!;
    const stderr = this.child.stderr!;
    // Pipe errors (EPIPE after a crash) surface through 'exit'; unhandled they would crash Node.
    for (const stream of [this.toWorker, this.fromWorker, this.livenessOut, this.livenessIn, stdout, stderr]) stream.on('error', noop);

    const pid = this.pid ?? -1;
    const outLines = new LineSplitter((line) => this.log({ stream: 'stdout', line, pid }));
    const errLines = new LineSplitter((line) => this.log({ stream: 'stderr', line, pid }));
    stdout.on('data', this.guard('reading its stdout', (chunk: Buffer) => outLines.push(chunk)));
    stderr.on('data', this.guard('reading its stderr', (chunk: Buffer) => errLines.push(chunk)));
    const ended = Promise.all([once(stdout, 'close'), once(stderr, 'close')]).then(
      this.guard('reading its last log lines', () => {
        outLines.end();
        errLines.end();
      }),
    );
    // The hot path: one bound function, its own try/catch (no wrapper per chunk).
    this.onData = (chunk) => {
      if (this.failure !== null) return;
      try {
        const frames = this.decoder.push(chunk);
        for (let i = 0; i < frames.length; i++) {
          if (this.failure !== null) return;
          this.spec.onFrame(parseWorkerFrame(frames[i]));
        }
      } catch (err) {
        this.failWith(err, 'handling a frame');
      }
    };
    this.fromWorker.on('data', this.onData);
    this.livenessIn.on(
      'data',
      this.guard('reading its liveness pipe', (chunk: Buffer) => {
        if (this.failure !== null || this.watchdog === null) return;
        for (const frame of this.livenessDecoder.push(chunk)) this.watchdog.alive(parseAliveFrame(frame));
      }),
    );
    this.watchdog =
      spec.liveness === null
        ? null
        : new LivenessWatchdog(spec.clock, spec.liveness.intervalMs, spec.liveness.timeoutMs, {
            ping: (frame: LivenessFrame) => this.sendLiveness(frame),
            pendingFrameBytes: () => this.decoder.pendingBytes,
            frameBytesReceived: () => this.decoder.bytesReceived,
            trip: (reason: string) => this.fail({ kind: 'unresponsive', message: reason }),
          });

    this.child.on(
      'error',
      this.guard('starting it', (err: NodeJS.ErrnoException) => {
        if (this.pid !== undefined) return; // errors of a running child arrive as 'exit'
        this.report({
          code: null,
          signal: null,
          reason: `could not start ${spec.python}: ${err.code ?? err.message}`,
          logTail: this.tail.text(),
          spawnFailed: true,
          failure: null,
        });
      }),
    );
    // Not wrapped in guard(): the exit must be reported whatever else fails, or requests would hang.
    this.child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.exitedFlag = true;
      try {
        this.watchdog?.stop();
        spec.clock.clearTimeout(this.killTimer);
        // Whatever the worker started in its group goes with it, whatever the reason it ended.
        killProcessGroup(this.pid, 'SIGKILL');
      } catch (err) {
        this.failWith(err, 'cleaning up after its exit');
      }
      // Give the last log lines (often a traceback) a moment to arrive, bounded: processes
      // outside the group that inherited stdout can keep it open forever.
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        spec.clock.clearTimeout(timer);
        this.report({
          code,
          signal,
          reason: this.describe(code, signal),
          logTail: this.tail.text(),
          spawnFailed: false,
          failure: this.failure,
        });
      };
      const timer = spec.clock.setTimeout(finish, DRAIN_AFTER_EXIT_MS);
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

  /** Milliseconds since the last liveness answer; undefined without a running watchdog. */
  sinceAliveMs(): number | undefined {
    return this.watchdog === null || this.exited ? undefined : this.watchdog.sinceAliveMs();
  }

  /** Starts the liveness watchdog (once the worker is ready: loading a model may block its loop). */
  startWatchdog(): void {
    if (!this.exited) this.watchdog?.start();
  }

  /** Writes a frame. Throws `FrameError` when it cannot be framed; a dead worker drops it. */
  send(frame: HostFrame): void {
    if (this.exited) return;
    this.toWorker.write(encodeFrame(frame));
  }

  /** The host gives up on this worker: kills it; its exit report carries `failure`. First reason wins. */
  fail(failure: WorkerFailure): void {
    if (this.failure !== null || this.exited) return;
    this.failure = failure;
    this.kill();
  }

  /**
   * Kills the worker and everything it started: SIGTERM to the reaper (it kills the serving
   * process and all descendants), then SIGKILL to the whole group if it is still there after
   * `KILL_FALLBACK_MS`. Safe to call at any time.
   */
  kill(): void {
    if (this.pid === undefined) return;
    if (this.exited) {
      killProcessGroup(this.pid, 'SIGKILL');
      return;
    }
    if (this.killTimer !== null) return;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      // Already gone: the exit event follows.
    }
    this.killTimer = this.spec.clock.setTimeout(() => killProcessGroup(this.pid, 'SIGKILL'), KILL_FALLBACK_MS);
  }

  /**
   * Asks the worker to shut down, waits up to `graceMs` for it to exit, then kills it. Resolves
   * once it has exited and its group is empty (bounded), so nothing it started outlives it.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.exited) {
      this.send({ type: 'shutdown' });
      this.toWorker.end();
      this.livenessOut.end();
      let timer: unknown;
      await Promise.race([
        this.exitPromise,
        new Promise<void>((resolve) => (timer = this.spec.clock.setTimeout(resolve, graceMs))),
      ]);
      this.spec.clock.clearTimeout(timer);
    }
    this.kill();
    await this.exitPromise;
    await waitForGroupExit(this.pid, GROUP_EXIT_WAIT_MS);
  }

  private sendLiveness(frame: LivenessFrame): void {
    if (!this.exited) this.livenessOut.write(encodeFrame(frame));
  }

  /** Wraps a listener: any exception fails this worker instead of escaping into the host. */
  private guard<A extends unknown[]>(what: string, listener: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        listener(...args);
      } catch (err) {
        this.failWith(err, what);
      }
    };
  }

  private failWith(err: unknown, what: string): void {
    if (err instanceof FrameError) {
      this.fail({ kind: 'protocol', message: err.message });
      return;
    }
    const message = `${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    if (!this.exited) {
      this.fail({ kind: 'internal', message });
      return;
    }
    // The worker is gone already; nothing is left to fail. Say so instead of throwing.
    process.emitWarning(`@inferkit/runner-python: ${message}`);
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
    const f = this.failure;
    if (f !== null) {
      if (f.kind === 'protocol') return `was killed after sending a malformed frame (${f.message})`;
      if (f.kind === 'unresponsive') return `was killed because it ${f.message}`;
      return `was killed because ${f.message}`;
    }
    if (signal !== null) return `was killed by ${signal}`;
    if (code !== null) return `exited with code ${code}${EXIT_REASONS[code] ? ` (${EXIT_REASONS[code]})` : ''}`;
    return 'exited';
  }

  private report(exit: WorkerExit): void {
    if (this.exitReported) return;
    this.exitReported = true;
    this.resolveExit();
    try {
      this.spec.onExit(exit);
    } catch (err) {
      process.emitWarning(`@inferkit/runner-python: handling the worker's exit threw ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function once(stream: Readable, event: string): Promise<void> {
  return new Promise((resolve) => stream.once(event, () => resolve()));
}

function noop(): void {}
