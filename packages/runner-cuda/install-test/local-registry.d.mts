/** See local-registry.mjs. */
export declare class LocalRegistry {
  readonly url: string;
  static start(tarballs: string[]): Promise<LocalRegistry>;
  close(): Promise<void>;
}
