import { defineConfig } from 'tsup';

export default defineConfig({
  // engine-child is the entry of the process that hosts a CUDA engine (src/host/engine-process.ts);
  // prompt-worker the entry of the threads that render and tokenize prompts (src/prompt/).
  // choose-binary and test-binary are what the install script (native/build-addon.mjs) runs to
  // decide, as the runner will, whether a prebuilt package works here.
  entry: {
    index: 'src/index.ts',
    'engine-child': 'src/host/engine-child.ts',
    'prompt-worker': 'src/prompt/prompt-worker.ts',
    'choose-binary': 'src/binding/choose-binary.ts',
    'test-binary': 'src/binding/test-binary.ts',
  },
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The CJS build needs import.meta.url to find the package root and the native addon.
  shims: true,
});
