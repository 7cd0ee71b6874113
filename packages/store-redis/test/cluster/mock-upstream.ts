import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the mock provider saw. */
export interface UpstreamStats {
  /** Requests it served, with their arrival times (ms, its Date.now()). */
  admittedAt: number[];
  /** Requests it refused with 429 because they broke its own limits: must stay 0. */
  rejected429: number;
  /** Requests it answered with 500. */
  failed500: number;
  /** Every request that reached it. */
  hits: number;
  inFlight: number;
  maxInFlight: number;
}

export interface MockUpstreamOptions {
  /** Its own RPM: a bucket of this size (plus `tolerance`) refilling continuously. */
  requestsPerMinute?: number;
  /** Extra room of its bucket for network jitter (default 0.02 = 2%). */
  tolerance?: number;
  /** Its own concurrency limit. */
  maxConcurrent?: number;
}

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'mock-upstream-server.mjs');

/** The mock provider (mock-upstream-server.mjs) in its own process, and its control calls. */
export class MockUpstream {
  private child: ChildProcess | null = null;
  port = 0;
  private readonly options: MockUpstreamOptions;

  constructor(options: MockUpstreamOptions = {}) {
    this.options = options;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [SERVER, JSON.stringify(this.options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`mock upstream exited with ${code}`)));
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async stats(): Promise<UpstreamStats> {
    return (await (await fetch(`http://127.0.0.1:${this.port}/__stats`)).json()) as UpstreamStats;
  }

  async control(c: { mode?: 'ok' | 'fail' | 'hold'; delayMs?: number; reset?: boolean; release?: boolean }): Promise<void> {
    await (await fetch(`http://127.0.0.1:${this.port}/__control`, { method: 'POST', body: JSON.stringify(c) })).text();
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c === null || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  }
}
