export { EchoRunner, runnerFactory } from './echo-runner.js';
export type { EchoRunnerOptions } from './echo-runner.js';
