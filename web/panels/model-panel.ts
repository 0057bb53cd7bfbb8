// The Model panel: a model (and, for llama2.c, its tokenizer) from a drop, a file picker or a
// URL; a progress bar (bytes read, then layers uploaded); the model card; errors beside the
// inputs, cleared by the next success. A failed load leaves the previous model loaded.

import type { ModelWorker } from '../client.js';
import type { ModelCard, WorkerEvent } from '../protocol.js';
import { $, el, showError } from '../ui/dom.js';
import { bytes, count } from '../ui/format.js';
import { SourcePicker } from './source-picker.js';

export class ModelPanel {
  readonly model: SourcePicker;
  readonly tokenizer: SourcePicker;
  private readonly progress = $<HTMLProgressElement>('load-progress');
  private readonly progressText = $('load-progress-text');
  private readonly error = $('load-error');
  private readonly loadButton = $<HTMLButtonElement>('load');
  private loading = false;
  card: ModelCard | undefined;

  constructor(private readonly worker: ModelWorker, private readonly loaded: (card: ModelCard) => void, private readonly beforeLoad: () => void) {
    this.model = new SourcePicker($('model-source'), 'model', 'a GGUF or llama2.c file', '/shared/models/stories260K.gguf', () => void this.load());
    this.tokenizer = new SourcePicker($('tokenizer-source'), 'tokenizer', 'a tokenizer.bin', '/shared/models/tok512.bin', () => {
      if (this.model.source()) void this.load();
    });
    this.loadButton.addEventListener('click', () => void this.load());
    for (const input of [this.model.urlInput, this.tokenizer.urlInput]) {
      input.addEventListener('keydown', (e) => e.key === 'Enter' && void this.load());
    }
    const threads = $<HTMLSelectElement>('threads');
    const isolated = globalThis.crossOriginIsolated === true;
    const most = isolated ? Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1)) : 1;
    for (let t = 1; t <= most; t++) threads.append(new Option(String(t), String(t), false, t === Math.min(4, most)));
    threads.disabled = !isolated;
    $('threads-note').textContent = isolated
      ? `${navigator.hardwareConcurrency} logical cores; the page is cross-origin isolated, so the model may run threads (from the next load).`
      : 'One thread: threads need a cross-origin-isolated page (the server must send COOP and COEP headers).';
    // a file dropped anywhere on the panel is the model (a tokenizer is dropped on its own box)
    const panel = $('model-panel');
    panel.addEventListener('dragover', (e) => {
      e.preventDefault();
      panel.classList.add('dragging');
    });
    panel.addEventListener('dragleave', () => panel.classList.remove('dragging'));
    panel.addEventListener('drop', (e) => {
      e.preventDefault();
      panel.classList.remove('dragging');
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      const onTokenizer = (e.target as HTMLElement).closest('#tokenizer-source');
      (onTokenizer ? this.tokenizer : this.model).setFile(file);
    });
  }

  /** Loads the default URL when the server has it (the dev server's /shared folder). */
  async loadDefault(): Promise<void> {
    const url = this.model.urlInput.value;
    const head = await fetch(url, { method: 'HEAD' }).catch(() => undefined);
    if (head?.ok) await this.load();
    else this.progressText.textContent = 'Drop a model file on this panel, choose one, or give its URL.';
  }

  async load(): Promise<void> {
    if (this.loading) return;
    const model = this.model.source();
    if (!model) {
      showError(this.error, this.model.mode === 'file' ? 'Choose or drop a model file first.' : 'Type the model\'s URL first.');
      return;
    }
    this.beforeLoad();
    this.loading = true;
    this.loadButton.disabled = true;
    this.progress.hidden = false;
    this.progress.removeAttribute('value');
    this.progressText.textContent = 'Starting...';
    delete this.progress.dataset.stages;
    const stages = new Set<string>();
    const tokenizer = this.tokenizer.source();
    const call = this.worker.call({ type: 'load', model, ...(tokenizer ? { tokenizer } : {}), threads: Number($<HTMLSelectElement>('threads').value) }, (e) => this.onProgress(e, stages));
    try {
      const card = await call.result;
      this.card = card;
      showError(this.error, undefined);
      this.progress.value = 1;
      this.progress.max = 1;
      this.progressText.textContent = `Loaded ${card.name}.`;
      this.showCard(card);
      this.loaded(card);
    } catch (e) {
      if (/tokenizer/.test((e as Error).message)) $<HTMLDetailsElement>('tokenizer-box').open = true;
      showError(this.error, `Could not load ${model.kind === 'file' ? model.file.name : model.url}: ${(e as Error).message}${this.card ? ` (${this.card.name} is still loaded)` : ''}`);
      this.progress.hidden = true;
      this.progressText.textContent = this.card ? `${this.card.name} is loaded.` : 'No model loaded.';
    } finally {
      this.progress.dataset.stages = [...stages].join(' ');
      this.loading = false;
      this.loadButton.disabled = false;
    }
  }

  private onProgress(e: WorkerEvent, stages: Set<string>): void {
    if (e.type !== 'progress') return;
    stages.add(e.stage);
    this.progress.max = e.total || 1;
    this.progress.value = e.done;
    this.progressText.textContent = e.stage === 'read'
      ? `Reading ${e.what ?? ''}: ${bytes(e.done)} of ${e.total ? bytes(e.total) : '?'}`
      : `Uploading weights: ${e.done === 1 ? 'classifier' : `layer ${e.done - 1}`} of ${e.total - 1} layers`;
  }

  private showCard(c: ModelCard): void {
    const types = Object.entries(c.fileTypes).map(([t, n]) => `${t} (${n})`).join(', ');
    const rows: [string, string][] = [
      ['Model', `${c.name} (${c.format})`],
      ['Family', c.family],
      ['Parameters', `${count(c.parameters)} (${c.layers} layers, dim ${c.dim}, FFN ${c.hiddenDim}, vocabulary ${c.vocabSize})`],
      ['Weight types', `${types}; runs as ${c.runType === 'q8_0' ? 'Q8_0 blocks' : 'float32'}`],
      ['FFN', c.routed ? `factorized: ${c.routed.experts} experts per layer, k = ${c.routed.topK}` : 'dense'],
      ['Wasm memory', `${bytes(c.memoryBytes)} (${bytes(c.weightBytes)} of weights read per token)`],
      ['Context', `${c.context} tokens`],
      ['Backend', c.backend],
      ['Threads', String(c.threads)],
      ['Chat template', c.template ? 'yes (in the file)' : 'none: plain completion unless you choose one'],
    ];
    const dl = $('model-card');
    dl.replaceChildren();
    for (const [k, v] of rows) dl.append(el('dt', '', k), el('dd', '', v));
    dl.hidden = false;
    dl.dataset.backend = c.backend;
    dl.dataset.threads = String(c.threads);
  }
}
