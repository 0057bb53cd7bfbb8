// `ffnkit bench startup`: how long the command takes to start. `ffnkit info` on stories260K
// (parse the command line, load the compiled library and the model, print) next to its bound,
// twice the time Node takes to import the package alone (`node -e "import('ffnkit')"`). Both
// are whole processes running dist/ (so `npm run build` first), timed in alternating runs after
// one warm-up run each; the median of each is reported.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FfnkitError } from '../src/index.js';
import { type BenchLine, type BenchOptions, collector, sharedDir, sig3 } from './harness.js';

const SUITE = 'startup';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Milliseconds one run of `node ...args` takes, start to exit, from the repository root. */
function runMs(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new FfnkitError('E_ARG', `bench startup: node ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return ms;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function runStartup(opts: BenchOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const shared = sharedDir();
  if (!shared) {
    say('skipping: ../shared not found (set FFNKIT_SHARED)');
    return lines;
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new FfnkitError('E_UNSUPPORTED', 'bench startup: dist/ is not built (npm run build)');
  const info = [join(root, 'bin', 'ffnkit.js'), 'info', '--model', join(shared, 'models', 'stories260K.bin')];
  const importOnly = ['-e', "import('ffnkit')"];
  const runs = opts.quick ? 5 : 20;
  runMs(info);
  runMs(importOnly);
  const infoMs: number[] = [];
  const importMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    say(`run ${i + 1} of ${runs}`);
    infoMs.push(runMs(info));
    importMs.push(runMs(importOnly));
  }
  const value = median(infoMs);
  const bound = 2 * median(importMs);
  emit({
    suite: SUITE, case: 'ffnkit info --model stories260K', impl: 'ffnkit (dist)', value: sig3(value), unit: 'ms',
    bound: sig3(bound), boundName: `2 x node -e "import('ffnkit')" ${sig3(bound / 2)} ms`, share: sig3(value / bound), runs,
  });
  return lines;
}
