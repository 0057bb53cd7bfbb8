// The expert heat map: one row per layer, one column per expert, each cell's shade the share of
// that layer's routed tokens the expert took (a legend gives the scale; a tooltip the counts).

import { el } from './dom.js';

export function drawHeatmap(root: HTMLElement, counts: number[][]): void {
  root.replaceChildren();
  if (counts.length === 0) return;
  const experts = counts[0]!.length;
  const shares = counts.map((layer) => {
    const total = layer.reduce((a, b) => a + b, 0) || 1;
    return layer.map((c) => c / total);
  });
  const top = Math.max(...shares.flat(), 1e-9);

  root.append(el('p', 'axis-title', 'Tokens routed to each expert, per layer (all tokens of the perplexity text and the generation)'));
  const grid = el('div', 'heatmap-grid');
  grid.style.gridTemplateColumns = `auto repeat(${experts}, minmax(1.4rem, 1fr))`;
  grid.setAttribute('role', 'table');
  grid.append(el('span', 'corner', 'layer \\ expert'));
  for (let e = 0; e < experts; e++) grid.append(el('span', 'col-label', String(e)));
  counts.forEach((layer, l) => {
    grid.append(el('span', 'row-label', String(l)));
    layer.forEach((c, e) => {
      const share = shares[l]![e]!;
      const cell = el('span', 'cell');
      cell.style.background = `rgba(43, 108, 176, ${(share / top).toFixed(3)})`;
      cell.title = `layer ${l}, expert ${e}: ${c} tokens (${(100 * share).toFixed(1)}% of the layer's routed tokens)`;
      cell.setAttribute('aria-label', cell.title);
      grid.append(cell);
    });
  });
  const legend = el('div', 'legend');
  const bar = el('span', 'legend-bar');
  legend.append(el('span', '', '0%'), bar, el('span', '', `${(100 * top).toFixed(0)}% of a layer's tokens`));
  legend.append(el('span', 'legend-note', `(an even split is ${(100 / experts).toFixed(0)}% each)`));
  root.append(grid, legend);
  root.dataset.counts = JSON.stringify(counts);
}

/** Per-layer skip ratios as bars, the always-run layers marked. */
export function drawSkipBars(root: HTMLElement, perLayer: number[], coldStart: number, coldEnd: number): void {
  root.replaceChildren(el('p', 'axis-title', 'Share of decode steps each layer skipped its FFN'));
  perLayer.forEach((r, l) => {
    const row = el('div', 'bar');
    const cold = l < coldStart || l >= perLayer.length - coldEnd;
    const track = el('span', 'track');
    const fill = el('span', 'fill');
    fill.style.width = `${(100 * r).toFixed(1)}%`;
    track.append(fill);
    row.append(el('span', 'name', `layer ${l}`), track, el('span', 'value', cold ? 'always runs' : `${(100 * r).toFixed(0)}%`));
    root.append(row);
  });
  root.dataset.perLayer = JSON.stringify(perLayer);
}
