/**
 * Where a local runtime gets its weights from.
 * - `hugging_face`: a Hub repository, optionally pinned to a `revision` (branch, tag or commit).
 * - `local_path`: a directory (or single file) already on disk.
 * - `runtime_managed`: the runtime resolves weights itself (e.g. vLLM given a model name).
 */
export type WeightSource =
  | {
      kind: 'hugging_face';
      /** Repository id, e.g. `'meta-llama/Llama-3.2-1B-Instruct'`. */
      repo: string;
      /** Branch, tag or commit; `undefined` means the repository's default branch. */
      revision?: string;
      /**
       * One file of the repository to load, e.g. `'model-Q4_K_M.gguf'` (a path inside the repo);
       * `undefined` lets the runtime pick (it refuses to guess between several candidates).
       */
      file?: string;
    }
  | {
      kind: 'local_path';
      /** Absolute or cwd-relative path to a weights directory or file. */
      path: string;
      /** With a directory `path`: the file in it to load, when it holds several candidates. */
      file?: string;
    }
  | { kind: 'runtime_managed' };
