/** Worker stdout/stderr as log lines, and the last of them kept for error reports. */
import { TextDecoder } from 'node:util';

/** One line the worker (the engine, its libraries, Python itself) printed. */
export interface PythonLogLine {
  stream: 'stdout' | 'stderr';
  /** The line without its newline; over-long lines are cut at `MAX_LINE_CHARS`. */
  line: string;
  /** Worker process id. */
  pid: number;
}

const MAX_LINE_CHARS = 8192;

/** Keeps the last `capacity` lines (a ring buffer: no shifting on the hot path). */
export class LogTail {
  private readonly lines: string[];
  private next: number;
  private count: number;

  constructor(readonly capacity: number) {
    this.lines = new Array<string>(Math.max(1, capacity));
    this.next = 0;
    this.count = 0;
  }

  push(line: string): void {
    this.lines[this.next] = line;
    this.next = (this.next + 1) % this.lines.length;
    if (this.count < this.lines.length) this.count++;
  }

  /** Oldest first, joined with newlines. */
  text(): string {
    const out: string[] = [];
    const start = (this.next - this.count + this.lines.length) % this.lines.length;
    for (let i = 0; i < this.count; i++) out.push(this.lines[(start + i) % this.lines.length]!);
    return out.join('\n');
  }
}

/** Splits a byte stream into lines (UTF-8 safe across chunk boundaries). */
export class LineSplitter {
  private partial: string;
  private readonly decoder: TextDecoder;

  constructor(private readonly onLine: (line: string) => void) {
    this.partial = '';
    this.decoder = new TextDecoder('utf-8');
  }

  push(chunk: Buffer): void {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    if (this.partial.length > MAX_LINE_CHARS) {
      this.emit(this.partial);
      this.partial = '';
    }
  }

  /** Emits a last line that had no newline. */
  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (rest.length > 0) this.emit(rest);
  }

  private emit(line: string): void {
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.onLine(trimmed.length > MAX_LINE_CHARS ? trimmed.slice(0, MAX_LINE_CHARS) : trimmed);
  }
}
