export { PythonRunner } from './python-runner.js';
export type { PythonWorkerHealth } from './python-runner.js';
export type { PythonRunnerOptions, PythonWorkerExit } from './python-runner-options.js';
export type { AutoRestartOptions } from './restart-policy.js';
export type { PythonLogLine } from './log-tail.js';
export { bridgePythonPath } from './bridge-path.js';
export { PROTOCOL_VERSION, parseWorkerFrame } from './protocol.js';
export type {
  AbortFrame,
  AbortedFrame,
  DeltaFrame,
  EngineInfo,
  ErrorFrame,
  GenerateFrame,
  HostFrame,
  InitFrame,
  PingFrame,
  PongFrame,
  ReadyFrame,
  ShutdownFrame,
  WireUsage,
  WorkerFrame,
} from './protocol.js';
export { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from './frame-codec.js';
