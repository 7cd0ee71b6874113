/** USD per million tokens for one model family. */
export interface ModelPrice {
  /** Uncached prompt tokens. */
  inputPerMTok: number;
  /** Prompt tokens served from the provider's cache; defaults to `inputPerMTok` when unknown. */
  cachedInputPerMTok?: number;
  /** Generated tokens, reasoning included. */
  outputPerMTok: number;
}

/** Model id prefix → price. Longer prefixes win, so dated ids (`gpt-4o-2024-08-06`) resolve. */
export type PriceTable = Readonly<Record<string, ModelPrice>>;
