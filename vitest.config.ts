import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser/**'],
    // Node 20 accepts the relaxed-SIMD build only behind this V8 flag; the tests run every build.
    execArgv: ['--experimental-wasm-relaxed-simd'],
    testTimeout: 60_000,
    // vitest's default on two cores is one worker; many files wait on child processes and files,
    // so two workers overlap them (npm test about a third shorter on the 2-core VM)
    maxWorkers: 2,
  },
});
