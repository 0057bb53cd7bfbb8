// `ffnkit info`: what a model file holds: format, shapes, parameters, bytes, vocabulary.

import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { KV_CACHES, LlamaModel, createEngine, parameterCount, readWeights, weightType, type IntegerDot, type KvCache } from '../node/index.js';
import { kvCacheBytes } from '../llm/memory.js';
import { backendOption, describeDot, engineOptions, integerDotOption, kvCacheOption } from './common.js';
import { out } from './output.js';

export function infoCommand(): Command {
  return new Command('info')
    .description('show the format, shapes, parameter count and memory of a model')
    .requiredOption('--model <path>', 'llama2.c .bin, GGUF, or a Hugging Face directory')
    .option('--json', 'print one JSON object')
    .addOption(backendOption())
    .addOption(kvCacheOption())
    .addOption(integerDotOption())
    .action(async (o: { model: string; json?: boolean; backend?: 'scalar' | 'simd' | 'relaxed'; kvCache?: KvCache; integerDot?: IntegerDot }) => {
      const { weights, format, tokenizer } = await readWeights(o.model, { blocks: 'all' });
      // the build and integer dot path this runtime would run the model's block types on
      const engine = await createEngine(engineOptions(o.backend, undefined, o.integerDot));
      const c = weights.config;
      const kvCache = o.kvCache ?? 'f32';
      const routed = weights.layers[0]?.routed;
      const fileBytes = (await stat(o.model)).isDirectory() ? undefined : (await stat(o.model)).size;
      const info = {
        format,
        ...c,
        family: c.family ?? 'llama',
        headDim: c.headDim ?? c.dim / c.nHeads,
        parameters: parameterCount(weights),
        fileBytes,
        weights: weightType(weights),
        wasmBytes: LlamaModel.memoryBytes(c, 64, weights, kvCache),
        kvCache,
        kvCacheBytes: kvCacheBytes(c, kvCache),
        backend: engine.backend,
        dot: engine.dot.path,
        dotForm: engine.dot.form,
        dotUnsigned: engine.dot.unsigned,
        ...(engine.dot.forced ? { dotForced: true } : {}),
        tokenizer: tokenizer ? `${tokenizer.vocabSize} tokens in the file` : 'none in the file (pass --tokenizer)',
        ...(routed ? { experts: routed.experts, topK: routed.topK, combination: routed.combination, split: routed.split } : {}),
      };
      if (o.json) {
        out(`${JSON.stringify(info)}\n`);
        return;
      }
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
      const lines = [
        `format        ${format}, ${info.family} graph`,
        `dim           ${c.dim} (head ${info.headDim}, ${c.nHeads} heads, ${c.nKvHeads} kv heads)`,
        `hidden        ${c.hiddenDim}`,
        `layers        ${c.nLayers}`,
        `vocab         ${c.vocabSize} (${c.sharedClassifier ? 'classifier shared with the embedding' : 'separate classifier'})`,
        `context       ${c.seqLen}`,
        `rope          ${c.ropeStyle}, theta ${c.ropeTheta}; rms eps ${Number(c.normEps.toPrecision(3))}`,
        `parameters    ${info.parameters.toLocaleString('en-US')}`,
        fileBytes !== undefined ? `file          ${mb(fileBytes)}` : undefined,
        `weights       ${info.weights} (each matrix runs in its own type)`,
        `wasm memory   ${mb(info.wasmBytes)} (weights as uploaded, KV cache, activations)`,
        `kv cache      ${kvCache}, ${mb(info.kvCacheBytes)} for the context of ${c.seqLen} (${KV_CACHES.filter((k) => k !== kvCache).map((k) => `${k}: ${mb(kvCacheBytes(c, k))}`).join(', ')}; --kv-cache)`,
        `kernels       ${engine.backend} build, ${describeDot(engine.dot)}`,
        `tokenizer     ${info.tokenizer}`,
        routed ? `experts       ${routed.experts} per layer of ${routed.expertHidden} neurons, top-${routed.topK}, ${routed.combination} combination${routed.split ? `, ${routed.split} split` : ''}` : undefined,
      ];
      out(`${lines.filter(Boolean).join('\n')}\n`);
    });
}
