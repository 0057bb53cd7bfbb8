// `ffnkit bench [suite] [--json] [--quick]`: runs benchmark suites from bench/ and prints either
// a table or one JSON object per line (DESIGN.md).

import { Command, Option } from 'commander';
import { FfnkitError } from '../node/index.js';
import type { BenchLine, BenchOptions } from '../../bench/harness.js';
import { progressLine } from './progress.js';

type Suite = (opts: BenchOptions) => Promise<BenchLine[]>;

/** The suites that exist so far; `all` runs each of them. */
const SUITES: Record<string, () => Promise<Suite>> = {
  kernels: async () => (await import('../../bench/kernels.js')).runKernels,
  llm: async () => (await import('../../bench/llm.js')).runLlm,
  moe: async () => (await import('../../bench/moe.js')).runMoe,
  skip: async () => (await import('../../bench/skip.js')).runSkip,
};
const PLANNED = ['mixer', 'peers'];

export function benchCommand(): Command {
  return new Command('bench')
    .description('measure ffnkit next to its bounds (bandwidth, SIMD peak) and peers')
    .addArgument(
      new Command().createArgument('[suite]', 'which suite').choices([...Object.keys(SUITES), ...PLANNED, 'all']).default('all'),
    )
    .option('--json', 'one JSON object per result line, nothing else on stdout')
    .option('--quick', 'fewer samples per case (a first look; CI)')
    .addOption(new Option('--report <file>', 'write an HTML report (not yet available)').hideHelp())
    .action(async (suite: string, opts: { json?: boolean; quick?: boolean; report?: string }) => {
      if (opts.report) throw new FfnkitError('E_UNSUPPORTED', '--report: the HTML report is not implemented yet');
      const names = suite === 'all' ? Object.keys(SUITES) : [suite];
      const progress = progressLine();
      const rows: BenchLine[] = [];
      for (const name of names) {
        const load = SUITES[name];
        if (!load) throw new FfnkitError('E_UNSUPPORTED', `bench ${name}: this suite is not implemented yet (available: ${Object.keys(SUITES).join(', ')})`);
        const run = await load();
        await run({
          quick: opts.quick === true,
          report: (line) => {
            progress.done();
            if (opts.json) process.stdout.write(`${JSON.stringify(line)}\n`);
            else rows.push(line);
          },
          progress: (what) => progress.update(`bench ${name}: ${what}`),
        });
      }
      progress.done();
      if (!opts.json) process.stdout.write(formatTable(rows));
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
