// A self-contained HTML report of benchmark lines: one SVG bar chart per case (median, with the
// spread as a whisker where measured, and the bound as a red line), the machine line, and the
// JSON the charts were drawn from. No scripts, fonts or images from the network.

import { cpus } from 'node:os';
import type { BenchLine } from './harness.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** What the report says about the machine it ran on. */
export function machineLine(features: { simd: boolean; relaxed: boolean }): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores; Node ${process.versions.node}, V8 ${process.versions.v8}; ` +
    `wasm SIMD ${features.simd ? 'yes' : 'no'}, relaxed SIMD ${features.relaxed ? 'yes' : 'no'}`;
}

/** Approximate width of 12px sans-serif text, for laying out labels. */
const textWidth = (s: string) => Math.ceil(s.length * 6.6);

/** What follows a bar's value: ffnkit's speed-up over this implementation (and ffnkit-in-Chromium's), where the line carries one. */
const barNote = (r: BenchLine) => (r.ffnkitSpeedup !== undefined
  ? ` (ffnkit ${r.ffnkitSpeedup}x${r.ffnkitChromiumSpeedup !== undefined ? `, in Chromium ${r.ffnkitChromiumSpeedup}x` : ''})`
  : '');

function chart(name: string, rows: BenchLine[]): string {
  // the label column fits the longest implementation name (transformers.js's run long)
  const label = Math.max(260, ...rows.map((r) => textWidth(r.impl) + 12));
  const width = label + 520;
  const barH = 22;
  const height = rows.length * barH + 30;
  const max = Math.max(...rows.map((r) => Math.max(Number(r.spreadMax ?? r.value), Number(r.bound ?? 0), r.value))) || 1;
  const x = (v: number) => label + ((width - label - 200) * v) / max;
  const bars = rows.map((r, i) => {
    const y = 10 + i * barH;
    const whisker = r.spreadMin !== undefined
      ? `<line x1="${x(Number(r.spreadMin))}" x2="${x(Number(r.spreadMax))}" y1="${y + 8}" y2="${y + 8}" stroke="#1a365d" stroke-width="1.5"/>`
      : '';
    const bound = r.bound !== undefined ? `<line x1="${x(r.bound)}" x2="${x(r.bound)}" y1="${y - 2}" y2="${y + 18}" stroke="#c53030" stroke-width="2"><title>${esc(`bound: ${r.bound} (${r.boundName ?? ''})`)}</title></line>` : '';
    const ffnkit = r.impl.startsWith('ffnkit');
    return `<text x="${label - 6}" y="${y + 12}" text-anchor="end">${esc(r.impl)}</text>` +
      `<rect x="${label}" y="${y}" width="${Math.max(1, x(r.value) - label)}" height="16" fill="${ffnkit ? '#2b6cb0' : '#a0aec0'}"><title>${esc(`${r.value} ${r.unit}`)}</title></rect>` +
      whisker + bound + `<text x="${x(r.value) + 6}" y="${y + 12}">${esc(`${r.value}${barNote(r)}`)}</text>`;
  });
  return `<h2>${esc(name)} <small>(${esc(rows[0]!.unit)})</small></h2>\n<svg width="${width}" height="${height}" font-family="sans-serif" font-size="12">${bars.join('')}</svg>`;
}

/** The report as one HTML string. */
export function htmlReport(title: string, lines: BenchLine[], machine: string, command: string): string {
  const cases = new Map<string, BenchLine[]>();
  for (const l of lines) cases.set(l.case, [...(cases.get(l.case) ?? []), l]);
  const charts = [...cases].filter(([, rows]) => rows.length > 1 || rows[0]!.bound !== undefined).map(([name, rows]) => chart(name, rows));
  const singles = [...cases].filter(([, rows]) => rows.length === 1 && rows[0]!.bound === undefined)
    .map(([name, rows]) => `<li>${esc(name)}: ${esc(String(rows[0]!.value))} ${esc(rows[0]!.unit)} (${esc(rows[0]!.impl)})</li>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#1d2433}h2{font-size:1rem;margin-top:1.5rem}small{color:#718096;font-weight:normal}pre{background:#f7fafc;padding:0.5rem;overflow:auto;font-size:11px}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>${esc(machine)}</p>
<p>Command: <code>${esc(command)}</code>. Bars: median; whiskers: fastest to slowest timed call; red line: the bound (measured in the same process). Blue: ffnkit. (ffnkit Nx): ffnkit's speed-up over that runtime, the median of its ratios in rounds that alternate the two.</p>
<ul>${singles.join('')}</ul>
${charts.join('\n')}
<h2>Data</h2>
<pre>${esc(lines.map((l) => JSON.stringify(l)).join('\n'))}</pre>
</body></html>
`;
}
