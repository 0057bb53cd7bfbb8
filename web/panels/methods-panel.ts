// The Methods panel: dense, factorized and FFN skipping on the same prompt and the same short
// text, each with its perplexity and decode speed (so the trade-off shows), a sentence on what it
// does and costs, the expert heat map and the per-layer skip ratios. The settings are form fields
// checked here, with errors in the page's words.

import { defaultSkipOptions } from '../../src/index.js';
import type { ModelWorker } from '../client.js';
import type { Bounds, CompareSettings, MethodResult, ModelCard } from '../protocol.js';
import { EVAL_TEXT } from '../eval-text.js';
import { $, el, numberField, showError } from '../ui/dom.js';
import { sig } from '../ui/format.js';
import { drawHeatmap, drawSkipBars } from '../ui/heatmap.js';
import { decodeText, speedFigures } from '../ui/speed-line.js';

const NAMES: Record<MethodResult['method'], string> = { dense: 'Dense', factorized: 'Factorized (FactorLLM)', skip: 'FFN skipping (FFN-SkipLLM)' };

function explain(r: MethodResult, s: CompareSettings, card: ModelCard): string {
  if (r.method === 'dense') return 'Every layer runs its whole FFN: the reference for quality and for cost.';
  if (r.method === 'factorized') {
    const e = card.routed?.experts ?? s.factorized.experts;
    const k = Math.min(s.factorized.topK, e);
    const router = card.routed
      ? 'these experts come from the loaded file, whose fine-tuning sets the quality.'
      : s.factorized.calibration === 'trained'
        ? 'the router, trained for a moment here on the calibration text, picks imperfectly, and without fine-tuning quality drops.'
        : 'this router is untrained (it picks by chance), which costs a lot of quality until the model is fine-tuned.';
    return `Each FFN is cut into ${e} experts and a router runs ${k} of them per token, so a token reads ${k}/${e} of the FFN weights; ${router}`;
  }
  return `While decoding, once a layer's FFN barely turns the hidden state (cosine above ${s.skip.threshold}), the next layers skip their FFN for that token: fewer weights read, at some cost in quality; the prompt and the first ${s.skip.warmup} tokens always run in full.`;
}

export class MethodsPanel {
  private card: ModelCard | undefined;
  private readonly error = $('compare-error');
  private readonly button = $<HTMLButtonElement>('compare');

  constructor(private readonly worker: ModelWorker, private readonly bounds: () => Bounds | undefined, private readonly busy: (on: boolean) => void) {
    this.button.addEventListener('click', () => void this.compare());
    $<HTMLSelectElement>('router').addEventListener('change', () => this.showRouter());
    this.button.disabled = true;
  }

  modelLoaded(card: ModelCard): void {
    this.card = card;
    const d = defaultSkipOptions(card.layers, card.context);
    $<HTMLInputElement>('skip-threshold').value = String(d.threshold);
    $<HTMLInputElement>('skip-warmup').value = String(Math.min(d.warmup, 8));
    $<HTMLInputElement>('skip-cold-start').value = String(d.coldStart);
    $<HTMLInputElement>('skip-cold-end').value = String(d.coldEnd);
    const experts = $<HTMLInputElement>('experts');
    experts.disabled = card.routed !== undefined;
    if (card.routed) {
      experts.value = String(card.routed.experts);
      $<HTMLInputElement>('topk').value = String(card.routed.topK);
    }
    $('factorized-source').textContent = card.routed
      ? `${card.name} is already factorized: its own ${card.routed.experts} experts run; dense is the FFN they add up to.`
      : 'The dense model is factorized here, in the worker.';
    $('router-row').hidden = card.routed !== undefined;
    this.showRouter();
    this.button.disabled = false;
    $('methods-table').hidden = true;
    $('heatmap').replaceChildren();
    $('skip-layers').replaceChildren();
  }

  private showRouter(): void {
    $('calib-row').hidden = this.card?.routed !== undefined || $<HTMLSelectElement>('router').value !== 'trained';
  }

  /** The form as settings, or the first problem in words. */
  private settings(card: ModelCard): CompareSettings | string {
    const prompt = $<HTMLInputElement>('cmp-prompt').value;
    if (!prompt.trim()) return 'Type a prompt for the methods to continue.';
    const maxTokens = numberField($<HTMLInputElement>('cmp-tokens'), 'Tokens to generate', 2, Math.min(1024, card.context - 1), true);
    const experts = numberField($<HTMLInputElement>('experts'), 'Experts', 2, card.hiddenDim, true);
    if (typeof maxTokens === 'string') return maxTokens;
    if (typeof experts === 'string') return experts;
    const topK = numberField($<HTMLInputElement>('topk'), 'Experts per token (k)', 1, experts, true);
    if (typeof topK === 'string') return topK;
    const threshold = numberField($<HTMLInputElement>('skip-threshold'), 'Cosine threshold', -1, 1, false);
    const warmup = numberField($<HTMLInputElement>('skip-warmup'), 'Warm-up tokens', 0, card.context, true);
    const coldStart = numberField($<HTMLInputElement>('skip-cold-start'), 'Always-run first layers', 0, card.layers, true);
    const coldEnd = numberField($<HTMLInputElement>('skip-cold-end'), 'Always-run last layers', 0, card.layers, true);
    for (const v of [threshold, warmup, coldStart, coldEnd]) if (typeof v === 'string') return v;
    if ((coldStart as number) + (coldEnd as number) >= card.layers) {
      return `The always-run first and last layers (${coldStart} + ${coldEnd}) cover all ${card.layers} layers: nothing could be skipped.`;
    }
    const calibration = $<HTMLSelectElement>('router').value === 'trained' ? 'trained' : 'untrained';
    const calibrationUrl = $<HTMLInputElement>('calib-url').value.trim();
    if (calibration === 'trained' && !calibrationUrl && !card.routed) return 'Give the calibration text\'s URL, or choose an untrained router.';
    return {
      prompt, maxTokens,
      factorized: { experts, topK, calibration, calibrationUrl },
      skip: { threshold: threshold as number, warmup: warmup as number, coldStart: coldStart as number, coldEnd: coldEnd as number },
    };
  }

  private async compare(): Promise<void> {
    const card = this.card;
    if (!card) return;
    const settings = this.settings(card);
    if (typeof settings === 'string') return showError(this.error, settings);
    showError(this.error, undefined);
    this.button.disabled = true;
    this.busy(true);
    const status = $('compare-status');
    status.textContent = 'Measuring...';
    delete $('methods-panel').dataset.done;
    try {
      const results = await this.worker.call({ type: 'compare', settings, text: EVAL_TEXT }, (e) => {
        if (e.type === 'progress') status.textContent = e.stage === 'factorize' ? `Factorizing: ${e.what} ${e.done}/${e.total}` : `Measuring ${e.what}...`;
      }).result;
      this.show(results, settings, card);
      status.textContent = `Measured on ${card.name}; perplexity on the page's built-in text of four short stories.`;
      $('methods-panel').dataset.done = 'true';
    } catch (e) {
      status.textContent = '';
      showError(this.error, (e as Error).message);
    } finally {
      this.button.disabled = false;
      this.busy(false);
    }
  }

  private show(results: MethodResult[], s: CompareSettings, card: ModelCard): void {
    const body = $('methods-body');
    body.replaceChildren();
    const dense = results[0]!;
    for (const r of results) {
      const tr = el('tr');
      tr.dataset.method = r.method;
      tr.dataset.ppl = String(r.ppl);
      const decode = r.speed.decodeSeconds > 0 ? r.speed.decodeTokens / r.speed.decodeSeconds : 0;
      tr.dataset.decode = String(decode);
      const name = el('td', 'method');
      name.append(el('strong', '', NAMES[r.method]));
      if (r.note) name.append(el('span', 'note', r.note));
      if (r.skipRatio !== undefined) name.append(el('span', 'note', `${(100 * r.skipRatio).toFixed(0)}% of FFN blocks skipped while decoding`));
      const ppl = el('td', 'num', sig(r.ppl));
      ppl.dataset.label = 'Perplexity';
      if (r !== dense) ppl.append(el('span', 'note', `${r.ppl >= dense.ppl ? '+' : ''}${(100 * (r.ppl / dense.ppl - 1)).toFixed(0)}% vs dense`));
      const b = this.bounds();
      const speed = el('td', 'num', `${sig(decode)} tok/s`);
      speed.dataset.label = 'Decode';
      if (b) speed.append(el('span', 'note', `bound ${sig(speedFigures(r.speed, b, card.threads).decodeBound)}`));
      speed.title = decodeText(r.speed, b, card.threads);
      tr.append(name, el('td', 'explain', explain(r, s, card)), ppl, speed, el('td', 'sample', r.text));
      body.append(tr);
    }
    $('methods-table').hidden = false;
    const f = results.find((r) => r.method === 'factorized');
    drawHeatmap($('heatmap'), f?.expertCounts ?? []);
    const sk = results.find((r) => r.method === 'skip');
    drawSkipBars($('skip-layers'), sk?.skipPerLayer ?? [], s.skip.coldStart, s.skip.coldEnd);
  }
}
