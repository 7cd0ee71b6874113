/**
 * `n` pseudo-random token ids below `vocab` from a fixed LCG: the same seed gives the same prompt
 * to every engine and every run, with no tokenizer involved.
 */
export function tokenIds(seed, n, vocab) {
  let x = seed >>> 0;
  const out = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(x % vocab);
  }
  return out;
}
