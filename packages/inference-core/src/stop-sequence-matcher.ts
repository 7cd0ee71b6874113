/**
 * Finds stop strings in streamed text. Text that could still turn into a stop string is held
 * back, so a stop string is never partly emitted, even when it spans several chunks; the stop
 * string itself and everything after it are dropped. Shared by every runner that matches stop
 * strings itself (the Python bridge has a mirror checked against the same case file,
 * `test-data/stop-sequence-cases.json`).
 */
export class StopSequenceMatcher {
  private readonly stops: readonly string[];
  private readonly longest: number;
  private pending: string;
  private matched: boolean;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    this.longest = this.stops.reduce((n, s) => Math.max(n, s.length), 0);
    this.pending = '';
    this.matched = false;
  }

  /** Whether a stop string was found (nothing more is emitted after that). */
  get stopped(): boolean {
    return this.matched;
  }

  /**
   * Feeds new text. Returns the text that is safe to emit and whether a stop string was found
   * (everything from the stop string on is dropped; later pushes return `''`).
   */
  push(text: string): { text: string; stopped: boolean } {
    if (this.matched) return { text: '', stopped: true };
    if (this.stops.length === 0) return { text, stopped: false };
    const buf = this.pending + text;
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.pending = '';
      this.matched = true;
      return { text: buf.slice(0, cut), stopped: true };
    }
    const hold = this.heldSuffixLength(buf);
    this.pending = buf.slice(buf.length - hold);
    return { text: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** Text held back because it was a prefix of a stop string that never completed. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return this.matched ? '' : rest;
  }

  // Longest suffix of `buf` that is a proper prefix of some stop string.
  private heldSuffixLength(buf: string): number {
    for (let k = Math.min(this.longest - 1, buf.length); k > 0; k--) {
      const tail = buf.slice(buf.length - k);
      for (const s of this.stops) if (s.startsWith(tail)) return k;
    }
    return 0;
  }
}
