/**
 * An opaque handle to a CUDA context owned by a GPU runner. Typed `unknown` on purpose so the core
 * never depends on GPU code; runners that share a context brand and narrow it themselves.
 */
export type CudaContextHandle = unknown;
