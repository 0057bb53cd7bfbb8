#!/usr/bin/env node
// The `ffnkit` command. Plain JavaScript so that it runs before anything is compiled: it turns on
// relaxed SIMD (Node 20 keeps it behind a V8 flag; setting it before any wasm is compiled is
// enough), registers tsx to load the TypeScript sources, and hands over to main.ts.

import { existsSync } from 'node:fs';
import v8 from 'node:v8';
import { register } from 'tsx/esm/api';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
register();
const { main } = await import('./main.ts');
// the benchmark suites are development tools that live beside src/ in a checkout
const benchEntry = new URL('../../bench/command.ts', import.meta.url);
const extra = existsSync(benchEntry) ? [(await import(benchEntry.href)).benchCommand()] : [];
process.exitCode = await main(process.argv, extra);
