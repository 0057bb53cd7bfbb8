// The FFN methods side by side on one prompt and one text: the dense model, its factorized copy
// (FactorLLM experts and a router, or the experts of a factorized file as loaded) and FFN
// skipping on the dense model. Each gets its perplexity on the text and a greedy generation of
// the prompt, timed where it runs.

import { LlamaModel, ThresholdSkip, defaultSkipOptions, evaluate, readBytes, type HostMatrix, type LlamaWeights } from '../../src/index.js';
import { RoutedLayerFfn, factorizeModel } from '../../src/entries/factor.js';
import { matrixF32 } from '../../src/model/weights.js';
import type { CompareSettings, MethodResult } from '../protocol.js';
import type { LoadedModel, Progress } from './loaded-model.js';
import { SpeedMeter } from './speed.js';

/** Factorized and dense copies made for the loaded model, kept while it stays loaded. */
export class MethodModels {
  private dense: LlamaModel | undefined;
  private factorized: { key: string; model: LlamaModel } | undefined;

  constructor(private readonly loaded: LoadedModel) {}

  /** The dense model: the loaded one, or for a factorized file the dense FFNs its experts add up to. */
  async denseModel(): Promise<LlamaModel> {
    const { model, weights } = this.loaded;
    if (!weights.layers.some((l) => l.routed)) return model;
    this.dense ??= await LlamaModel.create({ ...weights, layers: weights.layers.map(({ routed: _, ...l }) => l) }, { engine: model.engine });
    return this.dense;
  }

  /** The factorized model: the loaded file's experts, or the dense model factorized as the settings say. */
  async factorizedModel(s: CompareSettings['factorized'], progress: Progress): Promise<LlamaModel> {
    const { model, weights, tokenizer } = this.loaded;
    if (weights.layers.some((l) => l.routed)) return model;
    const key = `${s.experts}|${s.calibration}|${s.calibrationUrl}`;
    if (this.factorized?.key !== key) {
      const trained = s.calibration === 'trained';
      const calib = trained ? new TextDecoder().decode(await readBytes(s.calibrationUrl, 'calibration text')) : '';
      const w = await factorizeModel(floatWeights(weights), tokenizer, calib, {
        experts: s.experts, topK: s.topK, split: trained ? 'coactivation' : 'contiguous', steps: trained ? 100 : 0, calibTokens: 2048,
        onProgress: (stage, done, total) => progress('factorize', done, total, stage),
      });
      this.factorized = { key, model: await LlamaModel.create(w, { engine: model.engine }) };
    }
    return this.factorized.model;
  }
}

/** Float32 copies of Q8_0 matrices (factorizing works on float32 weights). */
function floatWeights(w: LlamaWeights<HostMatrix>): LlamaWeights {
  return {
    ...w,
    tokenEmbedding: matrixF32(w.tokenEmbedding),
    classifier: matrixF32(w.classifier),
    layers: w.layers.map((l) => ({
      ...l, wq: matrixF32(l.wq), wk: matrixF32(l.wk), wv: matrixF32(l.wv), wo: matrixF32(l.wo), w1: matrixF32(l.w1), w2: matrixF32(l.w2), w3: matrixF32(l.w3), routed: undefined,
    })),
  };
}

function routedLayers(model: LlamaModel): RoutedLayerFfn[] {
  return model.ffns.filter((f): f is RoutedLayerFfn => f instanceof RoutedLayerFfn);
}

/** Perplexity on `text`, then a greedy generation of the prompt (always `maxTokens` tokens, so the speeds compare). */
async function measure(model: LlamaModel, loaded: LoadedModel, text: string, s: CompareSettings, skip?: ThresholdSkip): Promise<Omit<MethodResult, 'method'>> {
  const { tokenizer } = loaded;
  const { ppl } = evaluate(model, tokenizer, text, skip ? { skip } : {});
  skip?.resetStats();
  const promptTokens = tokenizer.encode(s.prompt, { bos: true }).length;
  const meter = new SpeedMeter(() => promptTokens);
  let out = '';
  for await (const piece of model.generate(tokenizer, s.prompt, { maxTokens: s.maxTokens, temperature: 0, stopTokens: [], onToken: meter.onToken, ...(skip ? { skip } : {}) })) out += piece;
  // a skipped FFN is not read: the decode bound moves with the skip ratio
  const ffnBytes = model.ffns.reduce((b, f) => b + f.bytesPerToken(), 0);
  const ratio = skip?.stats().ratio ?? 0;
  return { ppl, text: out, speed: meter.speed(model, model.weightBytes() - ratio * ffnBytes) };
}

/** Dense, factorized and skipping, in that order. */
export async function compareMethods(models: MethodModels, loaded: LoadedModel, s: CompareSettings, text: string, progress: Progress): Promise<MethodResult[]> {
  progress('evaluate', 0, 3, 'dense');
  const dense = await models.denseModel();
  const results: MethodResult[] = [{ method: 'dense', ...(await measure(dense, loaded, text, s)) }];

  progress('factorize', 0, 1, 'factorizing');
  const factorized = await models.factorizedModel(s.factorized, progress);
  const routed = routedLayers(factorized);
  for (const f of routed) f.topK = Math.min(s.factorized.topK, f.experts);
  for (const f of routed) f.resetCounts();
  progress('evaluate', 1, 3, 'factorized');
  const fm = await measure(factorized, loaded, text, s);
  results.push({
    method: 'factorized', ...fm, expertCounts: routed.map((f) => Array.from(f.counts)),
    note: factorized === loaded.model ? `the experts of ${loaded.card.name}` : s.factorized.calibration === 'trained' ? 'router trained briefly on the calibration text' : 'untrained router (neurons split in order)',
  });

  progress('evaluate', 2, 3, 'skipping');
  const c = dense.config;
  const skip = new ThresholdSkip(c.nLayers, { ...defaultSkipOptions(c.nLayers, c.seqLen), ...s.skip, fullEvery: 0 });
  const sm = await measure(dense, loaded, text, s, skip);
  const stats = skip.stats();
  results.push({ method: 'skip', ...sm, skipPerLayer: stats.perLayer, skipRatio: stats.ratio });
  progress('evaluate', 3, 3, 'done');
  return results;
}
