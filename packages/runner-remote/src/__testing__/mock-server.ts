import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the mock server saw it. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Decides how to answer the n-th request (0-based). */
export type MockHandler = (req: RecordedRequest, res: ServerResponse, n: number) => void | Promise<void>;

/**
 * A scripted HTTP/1.1 server on 127.0.0.1 for tests: records requests, counts open sockets,
 * and can stall or cut connections. Each test gets its own and closes it.
 */
export class MockServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private handler: MockHandler;
  /** Sockets the server has accepted over its life. */
  acceptedSockets = 0;
  /** Sockets that have closed (either side). */
  closedSockets = 0;

  private constructor(handler: MockHandler) {
    this.handler = handler;
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.on('connection', (socket) => {
      this.acceptedSockets++;
      this.sockets.add(socket);
      socket.on('close', () => {
        this.closedSockets++;
        this.sockets.delete(socket);
      });
    });
  }

  static async start(handler: MockHandler): Promise<MockServer> {
    const s = new MockServer(handler);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Sockets currently open on the server side. */
  get openSockets(): number {
    return this.sockets.size;
  }

  setHandler(handler: MockHandler): void {
    this.handler = handler;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts).toString('utf8') };
    const n = this.requests.length;
    this.requests.push(rec);
    try {
      await this.handler(rec, res, n);
    } catch {
      res.socket?.destroy();
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Writes an SSE body (already framed text) with the given status and headers. */
export function sendSse(res: ServerResponse, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

/** Frames `data:` events (OpenAI/Gemini style). */
export function dataEvents(objects: unknown[], done = true): string {
  return objects.map((o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : '');
}

/** Polls `cond` every few ms until it holds (or fails after `timeoutMs`). */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
