// The Kernels panel: each kernel on each build, side by side, as a bar that fills up to its bound
// (the line at the end of the track). A value past its bound is drawn at the bound and says so.

import type { ModelWorker } from '../client.js';
import type { KernelRow } from '../protocol.js';
import { $, el, showError } from '../ui/dom.js';
import { sig } from '../ui/format.js';

export class KernelPanel {
  private readonly button = $<HTMLButtonElement>('bench');
  private readonly chart = $('bench-chart');

  constructor(private readonly worker: ModelWorker, private readonly threads: () => number) {
    this.button.addEventListener('click', () => void this.run());
  }

  /** `seconds`: the time budget of each measurement. */
  async run(seconds = 0.25): Promise<void> {
    this.button.disabled = true;
    this.chart.replaceChildren();
    delete this.chart.dataset.done;
    showError($('bench-error'), undefined);
    const status = $('bench-status');
    status.textContent = 'Measuring (each build in turn)...';
    const groups = new Map<string, HTMLElement>();
    try {
      await this.worker.call({ type: 'kernels', threads: this.threads(), seconds }, (e) => {
        if (e.type === 'row') this.add(e.row, groups);
      }).result;
      status.textContent = '';
      this.chart.dataset.done = 'true';
    } catch (e) {
      status.textContent = '';
      showError($('bench-error'), (e as Error).message);
    } finally {
      this.button.disabled = false;
    }
  }

  private add(r: KernelRow, groups: Map<string, HTMLElement>): void {
    let group = groups.get(r.kernel);
    if (!group) {
      group = el('div', 'kernel-group');
      group.append(el('h3', '', `${r.kernel}, ${r.unit}`));
      groups.set(r.kernel, group);
      this.chart.append(group);
    }
    const share = r.value / r.bound;
    const row = el('div', 'bar');
    row.dataset.value = String(r.value);
    row.dataset.bound = String(r.bound);
    const track = el('span', 'track');
    const fill = el('span', share > 1 ? 'fill over' : 'fill');
    fill.style.width = `${(100 * Math.min(1, share)).toFixed(1)}%`;
    track.append(fill, el('span', 'bound'));
    const text = `${sig(r.value)} ${r.unit} = ${(100 * share).toFixed(0)}% of ${sig(r.bound)}`;
    const value = el('span', 'value', share > 1 ? `${text}: past the bound (drawn at it): ${r.unit === 'GB/s' ? 'part of the matrix stayed in cache, or ' : ''}the bound was probed while the machine was busy` : text);
    row.title = `${r.build}: ${sig(r.value)} ${r.unit}; bound: ${r.boundName}, ${sig(r.bound)} ${r.unit}`;
    row.append(el('span', 'name', r.build), track, value);
    group.append(row);
  }
}
