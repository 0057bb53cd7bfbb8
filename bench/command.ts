// `ffnkit bench [suite] [--json] [--quick]`: runs benchmark suites from bench/ and prints either
// a table or one JSON object per line (DESIGN.md). The suites are development tools, not part of
// the package: the command exists where bench/ does (a checkout), added by the launcher.

import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { FfnkitError } from '../src/node/index.js';
import type { BenchLine, BenchOptions } from './harness.js';
import { progressLine } from '../src/cli/progress.js';
import { out } from '../src/cli/output.js';

type Suite = (opts: BenchOptions & { threads?: number }) => Promise<BenchLine[]>;

/** The suites that exist so far; `all` runs each of them. */
const SUITES: Record<string, () => Promise<Suite>> = {
  kernels: async () => (await import('./kernels.js')).runKernels,
  llm: async () => (await import('./llm.js')).runLlm,
  moe: async () => (await import('./moe.js')).runMoe,
  skip: async () => (await import('./skip.js')).runSkip,
  mixer: async () => (await import('./mixer.js')).runMixer,
  train: async () => (await import('./train.js')).runTrain,
  startup: async () => (await import('./startup.js')).runStartup,
  tokenize: async () => (await import('./tokenize.js')).runTokenize,
  quantize: async () => (await import('./quantize.js')).runQuantize,
  peers: async () => {
    try {
      // a separate package (bench/peers) that may not be installed: kept out of the type check
      const suite = './peers/suite.js';
      return ((await import(suite)) as { runPeers: Suite }).runPeers;
    } catch (e) {
      throw new FfnkitError('E_UNSUPPORTED', `bench peers: the peer runtimes are not installed (npm --prefix bench/peers install): ${(e as Error).message.split('\n')[0]}`);
    }
  },
};
const PLANNED: string[] = [];

export function benchCommand(): Command {
  return new Command('bench')
    .description('measure ffnkit next to its bounds (bandwidth, SIMD peak) and peers')
    .addArgument(
      new Command().createArgument('[suite]', 'which suite').choices([...Object.keys(SUITES), ...PLANNED, 'all']).default('all'),
    )
    .option('--json', 'one JSON object per result line, nothing else on stdout')
    .option('--quick', 'fewer samples per case (a first look; CI)')
    .option('--threads <n>', 'threads: for the peer runtimes, and for ffnkit in bench llm (each model on 1 and N threads); bench kernels always compares one thread per core with one', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`--threads must be an integer in [1, 256], got '${v}'`);
      return n;
    }, 1)
    .option('--report <file>', 'also write a self-contained HTML report with SVG charts')
    .option('--only <text>', 'bench llm: only the models whose name contains <text>; bench peers: only its decode comparisons, of those models (relaxed: the relaxed integer dot against the i16 path); bench kernels: q8_0, only the Q8_0 layouts and paths in Node and Chromium; q5_k, Q5_K\'s 4-row kernel against its row kernel; another ggml type (q4_k, q6_k, q4_0, f16, ...), that type\'s GEMV and prefill GEMM lines')
    .action(async (suite: string, opts: { json?: boolean; quick?: boolean; report?: string; threads: number; only?: string }) => {
      const names = suite === 'all' ? Object.keys(SUITES) : [suite];
      const progress = progressLine();
      const rows: BenchLine[] = [];
      const all: BenchLine[] = [];
      for (const name of names) {
        const load = SUITES[name];
        if (!load) throw new FfnkitError('E_UNSUPPORTED', `bench ${name}: this suite is not implemented yet (available: ${Object.keys(SUITES).join(', ')})`);
        let run: Suite;
        try {
          run = await load();
        } catch (e) {
          // `all` goes on without the optional peers; asking for them by name is an error
          if (suite === 'all' && e instanceof FfnkitError) {
            process.stderr.write(`ffnkit: ${e.message}; skipped\n`);
            continue;
          }
          throw e;
        }
        await run({
          threads: opts.threads,
          quick: opts.quick === true,
          ...(opts.only ? { only: opts.only } : {}),
          report: (line) => {
            progress.done();
            all.push(line);
            // through `out`: a reader that went away (`| head`) ends the run at the next line
            if (opts.json) out(`${JSON.stringify(line)}\n`);
            else rows.push(line);
          },
          progress: (what) => progress.update(`bench ${name}: ${what}`),
        });
      }
      progress.done();
      if (!opts.json) out(formatTable(rows));
      if (opts.report) {
        const { htmlReport, machineLine } = await import('./report.js');
        const { wasmBytes } = await import('../src/runtime/wasm.js');
        const features = { simd: WebAssembly.validate(await wasmBytes('simd')), relaxed: WebAssembly.validate(await wasmBytes('relaxed')) };
        const command = `ffnkit ${process.argv.slice(2).join(' ')}`;
        try {
          await writeFile(opts.report, htmlReport(`ffnkit bench ${suite}`, all, machineLine(features), command));
        } catch (e) {
          throw new FfnkitError('E_ARG', `--report: cannot write ${opts.report} (${(e as Error).message})`);
        }
        process.stderr.write(`wrote ${opts.report}\n`);
      }
    });
}

/** A plain-text table: case, implementation, value, bound and share of the bound. */
export function formatTable(rows: BenchLine[]): string {
  const header = ['case', 'impl', 'value', 'bound', 'share', 'max |diff|', 'more'];
  const known = new Set(['suite', 'case', 'impl', 'value', 'unit', 'bound', 'boundName', 'share', 'maxAbsDiff', 'seconds', 'rme', 'samples']);
  const body = rows.map((r) => [
    r.case,
    r.impl,
    `${r.value} ${r.unit}`,
    r.bound !== undefined ? `${r.bound} (${r.boundName})` : '',
    r.share !== undefined ? `${Math.round(r.share * 100)}%` : '',
    r.maxAbsDiff !== undefined ? String(r.maxAbsDiff) : '',
    Object.entries(r).filter(([k]) => !known.has(k)).map(([k, v]) => `${k} ${v}`).join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...body.map(fmt)].join('\n') + '\n';
}
