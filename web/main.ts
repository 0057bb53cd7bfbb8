// The demo page: load a model and tokenizer (URL or file), generate with streaming text, switch
// between dense, factorized (k chosen live) and FFN skipping, watch tokens/s, the skip ratio and
// each layer's expert usage, and run the kernels next to their bounds. Everything runs in this
// tab, on the same library as in Node.

import { BACKENDS, LlamaModel, Tokenizer, createEngine, parseSkip, readWeights, type Backend, type Engine, type LlamaWeights } from '../src/index.js';
import { RoutedLayerFfn, factorizeModel } from '../src/entries/factor.js';
import { rng } from '../src/rng.js';
import { kernelProbe } from './kernel-check.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => ($('status').textContent = text);

let weights: LlamaWeights | undefined;
let tokenizer: Tokenizer | undefined;
let dense: LlamaModel | undefined;
let factorized: LlamaModel | undefined;
let factorizedShape = '';

/** A file picked in `fileId`, else the URL typed in `urlId`. */
function source(fileId: string, urlId: string): File | string {
  const file = $<HTMLInputElement>(fileId).files?.[0];
  return file ?? $<HTMLInputElement>(urlId).value;
}

async function load(): Promise<void> {
  status('Loading...');
  $<HTMLButtonElement>('generate').disabled = true;
  const loaded = await readWeights(source('model-file', 'model-url'));
  weights = loaded.weights;
  tokenizer = loaded.tokenizer ?? (await Tokenizer.load(source('tokenizer-file', 'tokenizer-url')));
  dense = await LlamaModel.create(weights);
  dense.checkTokenizer(tokenizer);
  factorized = undefined;
  const c = weights.config;
  status(`Loaded (${loaded.format}): ${c.nLayers} layers, dim ${c.dim}, hidden ${c.hiddenDim}, vocab ${c.vocabSize}; backend ${dense.engine.backend}.`);
  $<HTMLButtonElement>('generate').disabled = false;
}

/** The model for the chosen method, factorizing on first use (calibration text fetched). */
async function currentModel(): Promise<LlamaModel> {
  const method = (document.querySelector('input[name=ffn]:checked') as HTMLInputElement).value;
  if (method === 'dense') return dense!;
  const experts = Number($<HTMLSelectElement>('experts').value);
  const topK = Math.min(experts, Number($<HTMLInputElement>('topk').value));
  if (!factorized || factorizedShape !== String(experts)) {
    status(`Factorizing into ${experts} experts (coactivation split, PA-trained routers)...`);
    const calib = await (await fetch($<HTMLInputElement>('calib-url').value)).text();
    const w = await factorizeModel(weights!, tokenizer!, calib, { experts, topK, split: 'coactivation', steps: 100, calibTokens: 2048 });
    factorized = await LlamaModel.create(w, { engine: dense!.engine });
    factorizedShape = String(experts);
    status(`Factorized: ${experts} experts per layer.`);
  }
  setTopK(topK);
  return factorized;
}

function routedLayers(model: LlamaModel | undefined): RoutedLayerFfn[] {
  return (model?.layers ?? []).map((l) => l.ffn).filter((f): f is RoutedLayerFfn => f instanceof RoutedLayerFfn);
}

function setTopK(k: number): void {
  for (const f of routedLayers(factorized)) f.topK = Math.min(k, f.experts);
}

/** Expert usage per layer as a heat map: rows are layers, columns experts, darker = more tokens. */
function drawHeatmap(model: LlamaModel): void {
  const canvas = $<HTMLCanvasElement>('heatmap');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const layers = routedLayers(model);
  if (layers.length === 0) return;
  const h = canvas.height / layers.length;
  layers.forEach((f, l) => {
    const total = f.counts.reduce((a, b) => a + b, 0) || 1;
    const w = canvas.width / f.experts;
    f.counts.forEach((c, e) => {
      const share = c / total;
      ctx.fillStyle = `rgba(43, 108, 176, ${Math.min(1, share * f.experts * 0.5)})`;
      ctx.fillRect(e * w + 1, l * h + 1, w - 2, h - 2);
    });
  });
  canvas.dataset.counts = JSON.stringify(layers.map((f) => Array.from(f.counts)));
}

async function generate(): Promise<void> {
  const button = $<HTMLButtonElement>('generate');
  button.disabled = true;
  const out = $('output');
  out.textContent = '';
  delete out.dataset.done;
  try {
    const model = await currentModel();
    for (const f of routedLayers(model)) f.resetCounts();
    const skipOn = $<HTMLInputElement>('skip-on').checked;
    const skip = skipOn ? parseSkip($<HTMLInputElement>('skip-spec').value, model.config.nLayers, model.config.seqLen) : undefined;
    const prompt = $<HTMLInputElement>('prompt').value;
    out.textContent = prompt;
    const started = performance.now();
    let tokens = 0;
    const options = {
      maxTokens: Number($<HTMLInputElement>('max-tokens').value),
      temperature: Number($<HTMLInputElement>('temperature').value),
      ...(skip ? { skip } : {}),
    };
    for await (const piece of model.generate(tokenizer!, prompt, options)) {
      out.textContent += piece;
      tokens++;
      const rate = tokens / ((performance.now() - started) / 1000);
      const ratio = skip ? ` | FFN blocks skipped ${(100 * skip.stats().ratio).toFixed(1)}%` : '';
      $('stats').textContent = `${tokens} pieces, ${rate.toFixed(0)} tokens/s${ratio}`;
      $('stats').dataset.skipRatio = String(skip?.stats().ratio ?? 0);
      drawHeatmap(model); // the stream yields to the event loop between tokens: the page paints as text arrives
    }
    out.dataset.done = 'true';
  } catch (e) {
    status(`Error: ${(e as Error).message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- kernels ----------------------------------------------------------------------------

/** Seeded inputs through a few kernels on every build: the page's results, for comparison with Node. */
async function kernelCheck(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const backend of BACKENDS) {
    let e: Engine;
    try {
      e = await createEngine({ backend });
    } catch {
      continue;
    }
    out[backend] = kernelProbe(e);
  }
  return out;
}

function timeIt(fn: () => void, seconds = 0.3): number {
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    fn();
    calls++;
  }
  return (performance.now() - start) / 1000 / calls;
}

async function runBench(): Promise<void> {
  const chart = $('bench-chart');
  chart.textContent = 'Running...';
  const rows: { name: string; value: number; bound: number; unit: string }[] = [];
  for (const backend of BACKENDS as readonly Backend[]) {
    let e: Engine;
    try {
      e = await createEngine({ backend });
    } catch {
      continue;
    }
    const iters = 1 << 18;
    const peak = (iters * (backend === 'scalar' ? 20 : 80)) / timeIt(() => e.wasm.f32_probe_madd(iters, 0.5)) / 1e9;
    const probe = e.alloc(16 << 20);
    const bandwidth = (probe.length * 4) / timeIt(() => e.wasm.f32_probe_read(probe.ptr, probe.length)) / 1e9;
    probe.free();
    const next = rng(1);
    const [m, n, k] = [128, 512, 512];
    const packed = e.kernels.packFrom(Float32Array.from({ length: n * k }, next), n, k);
    const a = e.upload(Float32Array.from({ length: m * k }, next));
    const c = e.alloc(m * n);
    const gemm = (2 * m * n * k) / timeIt(() => e.wasm.f32_gemm_4x8(a.ptr, packed.data.ptr, c.ptr, m, n, k)) / 1e9;
    const gv = e.kernels.packFrom(Float32Array.from({ length: 2048 * 4096 }, next), 4096, 2048);
    const x = e.upload(Float32Array.from({ length: 2048 }, next));
    const y = e.alloc(4096);
    const gemv = (2 * 4096 * 2048) / timeIt(() => e.wasm.f32_gemm_4x8(x.ptr, gv.data.ptr, y.ptr, 1, 4096, 2048)) / 1e9;
    // MetaMixer's token mixer: a 7x7 depthwise convolution over 128 channels of 32x32, NHWC
    const [ch, hw, kk] = [128, 32, 7];
    const ci = e.upload(Float32Array.from({ length: hw * hw * ch }, next));
    const cw = e.upload(Float32Array.from({ length: kk * kk * ch }, next));
    const co = e.alloc(hw * hw * ch);
    const conv = (2 * kk * kk * ch * hw * hw) / timeIt(() => e.kernels.depthwiseConv2d(ci, { h: hw, w: hw, c: ch }, cw, kk, co)) / 1e9;
    rows.push({ name: `${backend} GEMM ${m}x${k}x${n}`, value: gemm, bound: peak, unit: 'GFLOP/s (bound: madd peak)' });
    rows.push({ name: `${backend} GEMV 1x2048x4096`, value: gemv, bound: bandwidth / 2, unit: 'GFLOP/s (bound: bandwidth / 2)' });
    rows.push({ name: `${backend} dwconv 7x7 c128 32x32`, value: conv, bound: peak, unit: 'GFLOP/s (bound: madd peak)' });
  }
  const max = Math.max(...rows.map((r) => Math.max(r.value, r.bound)));
  chart.textContent = '';
  for (const r of rows) {
    const row = document.createElement('div');
    row.className = 'bar';
    row.title = `${r.value.toFixed(1)} ${r.unit}; bound ${r.bound.toFixed(1)}`;
    row.innerHTML = `<span>${r.name}</span><span class="track"><span class="fill" style="width:${(100 * r.value) / max}%"></span><span class="bound" style="left:${(100 * r.bound) / max}%"></span></span><span>${r.value.toFixed(1)}</span>`;
    chart.append(row);
  }
  chart.dataset.done = 'true';
}

$('load').addEventListener('click', () => void load().catch((e: Error) => status(`Error: ${e.message}`)));
$('generate').addEventListener('click', () => void generate());
$('bench').addEventListener('click', () => void runBench().catch((e: Error) => ($('bench-chart').textContent = `Error: ${e.message}`)));
$('topk').addEventListener('input', () => {
  const k = Number($<HTMLInputElement>('topk').value);
  $('topk-value').textContent = String(k);
  setTopK(k);
});
$('experts').addEventListener('change', () => {
  const e = Number($<HTMLSelectElement>('experts').value);
  $<HTMLInputElement>('topk').max = String(e);
});

// for the browser tests and the curious: the page's kernel results and the library itself
Object.assign(window, { ffnkitDemo: { kernelCheck, load } });
void load().catch((e: Error) => status(`Error: ${e.message}`));
