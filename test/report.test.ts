// The HTML benchmark report: one SVG chart per case, self-contained, with its data.

import { expect, test } from 'vitest';
import { htmlReport, machineLine } from '../bench/report.js';
import type { BenchLine } from '../bench/harness.js';

test('the report draws every case, embeds the data and fetches nothing', () => {
  const lines: BenchLine[] = [
    { suite: 'peers', case: 'read bandwidth 256MiB', impl: 'ffnkit-simd', value: 28, unit: 'GB/s' },
    { suite: 'peers', case: 'gemm m1 k2 n3', impl: 'ffnkit-simd', value: 40, unit: 'GFLOP/s', bound: 48, boundName: 'madd peak', spreadMin: 38, spreadMax: 41 },
    { suite: 'peers', case: 'gemm m1 k2 n3', impl: 'ort-web <wasm>', value: 20, unit: 'GFLOP/s', bound: 48, boundName: 'madd peak' },
    { suite: 'peers', case: 'decode x', impl: 'llama.cpp', value: 60, unit: 'tokens/s', bound: 59, boundName: 'bandwidth' },
  ];
  const html = htmlReport('ffnkit bench peers', lines, machineLine({ simd: true, relaxed: false }), 'ffnkit bench peers');
  expect(html.match(/<svg /g)).toHaveLength(2);
  expect(html).toContain('read bandwidth 256MiB: 28 GB/s');
  expect(html).toContain('ort-web &lt;wasm&gt;'); // escaped
  expect(html).toContain('relaxed SIMD no');
  expect(html).not.toMatch(/<script|<link|src=|url\(/);
  expect(html).not.toMatch(/https?:\/\//);
  for (const l of lines) expect(html).toContain(JSON.stringify(l).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'));
});
