import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/v2.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // One shared chunk for both entries in CJS too, instead of a copy of the model in each.
  splitting: true,
  target: 'node20',
});
