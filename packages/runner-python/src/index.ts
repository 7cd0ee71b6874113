export { PythonRunner } from './python-runner.js';
export type { PythonPingResult } from './python-runner.js';
export { runnerFactory } from './runner-factory.js';
export type { PythonRunnerOptions, PythonWorkerExit } from './python-runner-options.js';
export type { PythonCrashKind, PythonRunnerHealth, PythonWorkerCrash, PythonWorkerState } from './python-runner-health.js';
export type { PythonLogLine } from './log-tail.js';
export { bridgePythonPath } from './bridge-path.js';
export { PROTOCOL_VERSION, parseAliveFrame, parseWorkerFrame } from './protocol.js';
export type {
  AbortFrame,
  AbortedFrame,
  AliveFrame,
  DeltaFrame,
  EngineInfo,
  ErrorFrame,
  GenerateFrame,
  HostFrame,
  InitFrame,
  LivenessFrame,
  PingFrame,
  PongFrame,
  ReadyFrame,
  ShutdownFrame,
  WireUsage,
  WorkerFrame,
} from './protocol.js';
export { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES, MAX_FRAME_DEPTH, nestsDeeperThan } from './frame-codec.js';
