import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The real gateway CLI, as built (the store package's dev dependency). */
export const GATEWAY_CLI = join(PKG, 'node_modules/@inferkit/gateway/dist/cli.js');
// Config files live inside this package, so runner and store packages resolve from them as they
// would from an application's directory.
const RUN_DIR = join(PKG, 'test/.run');

let seq = 0;

/** Writes a gateway config file and returns its path. */
export function writeConfig(config: unknown): string {
  const dir = join(RUN_DIR, `${process.pid}-${seq++}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function removeConfigs(): void {
  rmSync(RUN_DIR, { recursive: true, force: true });
}

/** One gateway process (`inferkit-gateway --config … --port 0`). */
export class GatewayProcess {
  readonly child: ChildProcess;
  log = '';
  port = 0;
  readonly exited: Promise<number | null>;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-20_000)));
    child.stdout!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-20_000)));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** Starts the CLI; resolves once it listens (or rejects with its log when it exits first). */
  static async start(configFile: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<GatewayProcess> {
    const g = GatewayProcess.spawn(configFile, env);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(g.log);
      if (m) {
        g.port = Number(m[1]);
        return g;
      }
      if (g.child.exitCode !== null) throw new Error(`gateway exited with ${g.child.exitCode}:\n${g.log}`);
      if (Date.now() > deadline) {
        g.child.kill('SIGKILL');
        throw new Error(`gateway did not listen within ${timeoutMs} ms:\n${g.log}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Starts the CLI without waiting for it (for configs that must fail). */
  static spawn(configFile: string, env: NodeJS.ProcessEnv = {}): GatewayProcess {
    const child = spawn(process.execPath, [GATEWAY_CLI, '--config', configFile, '--port', '0'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new GatewayProcess(child);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** POST /v1/chat/completions; resolves with the status and the parsed body. */
  async chat(model: string, content = 'hi', extra: Record<string, unknown> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }], max_tokens: 40, ...extra }),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, body };
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    await this.exited;
  }

  /** SIGTERM (drain), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(t);
  }
}
