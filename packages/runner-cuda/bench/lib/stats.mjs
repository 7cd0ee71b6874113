/** The median of a non-empty list of numbers (mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Monotonic seconds. */
export function now() {
  return performance.now() / 1000;
}

/** Bytes of this process's resident memory. */
export function rssBytes() {
  return process.memoryUsage.rss();
}
