#!/usr/bin/env node
// The `ffnkit` command: turns on relaxed SIMD (Node 20 keeps it behind a V8 flag; setting it
// before any wasm is compiled is enough) and runs the compiled CLI in dist/.
//
// In a checkout of the repository (where bench/ exists), `ffnkit bench` and FFNKIT_FROM_SOURCES=1
// (the tests' way to run the CLI they test) run the TypeScript sources through tsx instead, a
// development dependency: the benchmark suites are development tools that never ship.

import { existsSync } from 'node:fs';
import v8 from 'node:v8';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const benchEntry = new URL('../bench/command.ts', import.meta.url);
const fromSources = existsSync(benchEntry) && (process.argv[2] === 'bench' || process.env.FFNKIT_FROM_SOURCES === '1');
if (fromSources) {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  const { benchCommand } = await import(benchEntry.href);
  process.exitCode = await main(process.argv, benchCommand());
} else {
  const compiled = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(compiled)) {
    process.stderr.write('ffnkit: dist/ is not built (in a checkout: npm run build)\n');
    process.exit(1);
  }
  const { main } = await import(compiled.href);
  process.exitCode = await main(process.argv);
}
