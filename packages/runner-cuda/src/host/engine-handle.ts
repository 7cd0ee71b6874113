import type {
  AddonEngine,
  AddonEngineInfo,
  AddonEngineStats,
  AddonLoadOptions,
  AddonLoadProgress,
  AddonRequestId,
  AddonSubmitRequest,
  AddonTokenEvent,
} from '../binding/addon-types.js';

/** Where an engine runs: in this process (the addon object itself) or in a child process. @internal */
export type EngineHosting = 'in-process' | 'child-process';

/**
 * What `CudaRunner` needs from an engine, wherever it runs. The same calls as the addon's
 * `AddonEngine`, except that `stats()` answers asynchronously (a child process has to be asked)
 * and `rebuild()` means "make a working engine with the same weights again" — in this process the
 * addon tears the backend down and reloads; for a child process, the process is replaced, which is
 * the only thing that clears a sticky CUDA error on drivers that refuse `cudaDeviceReset`.
 * @internal
 */
export interface EngineHandle {
  readonly hosting: EngineHosting;
  readonly info: AddonEngineInfo;
  /** Throws an `Error` with an `InferenceError` kind when the engine cannot take the request now. */
  submit(request: AddonSubmitRequest, onEvent: (event: AddonTokenEvent) => void): AddonRequestId;
  cancel(id: AddonRequestId): void;
  stats(): Promise<AddonEngineStats>;
  logits(tokens: Int32Array): Promise<Float32Array>;
  rebuild(): Promise<void>;
  /** Test-only fault hook: the engine's next step fails as a sticky CUDA error would. */
  injectFault(kind: 'sticky_failure'): void;
  close(): Promise<void>;
}

/** Engine load progress callback, as the addon reports it. @internal */
export type EngineProgress = (progress: AddonLoadProgress) => void;

/** The addon's engine object, used directly in this process. @internal */
export class InProcessEngine implements EngineHandle {
  readonly hosting = 'in-process' as const;

  private constructor(
    private readonly engine: AddonEngine,
    readonly info: AddonEngineInfo,
  ) {}

  /** Loads `options` into `engine`; on failure the engine is closed and the addon's error rethrown. */
  static async load(engine: AddonEngine, options: AddonLoadOptions, onProgress?: EngineProgress): Promise<InProcessEngine> {
    try {
      return new InProcessEngine(engine, await engine.load(options, onProgress));
    } catch (e) {
      await engine.close().catch(() => undefined);
      throw e;
    }
  }

  submit(request: AddonSubmitRequest, onEvent: (event: AddonTokenEvent) => void): AddonRequestId {
    return this.engine.submit(request, onEvent);
  }

  cancel(id: AddonRequestId): void {
    this.engine.cancel(id);
  }

  stats(): Promise<AddonEngineStats> {
    return Promise.resolve(this.engine.stats());
  }

  logits(tokens: Int32Array): Promise<Float32Array> {
    return this.engine.logits(tokens);
  }

  rebuild(): Promise<void> {
    return this.engine.rebuild();
  }

  injectFault(kind: 'sticky_failure'): void {
    this.engine.injectFault(kind);
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
