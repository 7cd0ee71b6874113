// @inferkit/inference-core/testing — dependency-free test kit for runner authors.
export { runnerConformanceCases, runnerFactoryConformanceCases } from './runner-conformance-cases.js';
export type { ConformanceCapabilities, ConformanceCase, ConformanceOptions, FactoryConformanceOptions } from './runner-conformance-cases.js';
export { ScriptedRunner } from './scripted-runner.js';
export type { Script, ScriptStep, ScriptedRunnerOptions } from './scripted-runner.js';
export { FakeClock } from './clock.js';
export { rejectionOf } from './rejection-of.js';
