// The Q8_0 layouts and paths of bench/q8-paths.ts in `ffnkit bench kernels`: on the relaxed build
// in Node, then in headless Chromium (the ESM build in dist/, as bench/peers/ffnkit-chromium.ts
// loads it), whose V8 may compute the relaxed dot as VNNI does and take the unsigned path.

import type { Engine } from '../src/index.js';
import type { BenchLine, BenchOptions } from './harness.js';
import { ffnkitChromiumUnavailable, ffnkitPage } from './peers/ffnkit-chromium.js';
import { q8PathLines, q8PathRates } from './q8-paths.js';

export async function runQ8PathCases(engines: Engine[], opts: BenchOptions, emit: (l: BenchLine) => void, say: (what: string) => void): Promise<void> {
  const [rounds, ms] = opts.quick ? [3, 100] : [7, 300];
  const relaxed = engines.find((e) => e.backend === 'relaxed');
  if (relaxed) {
    say('q8_0 on both layouts, relaxed build');
    for (const l of q8PathLines(q8PathRates(relaxed, rounds, ms), relaxed.backend, '')) emit(l as BenchLine);
  }
  const why = ffnkitChromiumUnavailable();
  if (why) {
    say(`skipping q8_0 in Chromium: ${why}`);
    return;
  }
  say('q8_0 on both layouts, relaxed build in Chromium');
  const page = await ffnkitPage({ q8PathRates });
  try {
    const rates = await page.run(({ rounds, ms }) => {
      const g = window as unknown as { ffnkit: typeof import('../src/index.js'); q8PathRates: typeof q8PathRates };
      return g.ffnkit.createEngine({ backend: 'relaxed' }).then((e) => {
        const r = { rates: g.q8PathRates(e, rounds, ms), unsigned: e.dot.unsigned };
        e.close();
        return r;
      });
    }, { rounds, ms });
    say(`Chromium's relaxed dot on unsigned operands: ${rates.unsigned}`);
    for (const l of q8PathLines(rates.rates, 'relaxed', ' in Chromium')) emit(l as BenchLine);
  } finally {
    await page.close();
  }
}
