// Part of scripts/check-package.mjs: the declarations of every entry resolve in a project that
// installed the tarball (tsc --noEmit, NodeNext resolution, as a TypeScript user compiles).

import { FfnkitError, Tokenizer, loadModel, type LlamaModel } from 'ffnkit';
import { loadModel as loadInNode } from 'ffnkit/node';
import { Kernels, createEngine, type F32Buffer } from 'ffnkit/kernels';
import { factorizeModel, type FactorizeModelOptions } from 'ffnkit/factor';
import { finetune, type FinetuneOptions } from 'ffnkit/train';
import { FfnetModel, type FfnetConfig } from 'ffnkit/mixer';
import { toOnnx } from 'ffnkit/onnx';

export async function typed(path: string): Promise<[LlamaModel, Tokenizer, F32Buffer]> {
  const model: LlamaModel = await loadModel(path);
  const other: LlamaModel = await loadInNode(path);
  const engine = await createEngine({ threads: 1 });
  const kernels: Kernels = engine.kernels;
  const x: F32Buffer = engine.upload([1, 2, 3]);
  kernels.scale(x, 2, x);
  const options: Partial<FactorizeModelOptions & FinetuneOptions> = {};
  const config: FfnetConfig | undefined = undefined;
  const exporters: unknown[] = [factorizeModel, finetune, FfnetModel, toOnnx, options, config, other, FfnkitError];
  void exporters;
  return [model, await Tokenizer.load(path), x];
}
