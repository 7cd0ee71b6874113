export { CudaRunner, runnerFactory } from './cuda-runner.js';
export type { CudaRunnerDevice, CudaRunnerEngineProcess, CudaRunnerOptions } from './cuda-runner-options.js';
export { PLAIN_CHAT_TEMPLATE } from './chat/chat-prompt.js';
export { hfHubCacheDir, cachedSnapshotDir } from './weights/hf-cache.js';
export type { NativeBinaryInfo, NativeBinarySource } from './binding/choose-binary.js';
