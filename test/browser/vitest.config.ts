import { defineConfig } from 'vitest/config';

// Browser tests: build the demo with Vite, serve it, drive Debian's Chromium with playwright-core.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    execArgv: ['--experimental-wasm-relaxed-simd'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
