// Part (b) of scripts/check-package.mjs, run inside the temporary project that installed the
// tarball: the package imported by name in Node. The greedy continuation of stories260K on one
// and on two threads (worker_threads start the package's own worker script) equals llama2.c's
// golden ids; every subpath loads with its exports and without the internals; ffnkit/onnx,
// without its optional peer onnx-proto, is an FfnkitError that names it.
// Usage: node node-check.mjs SHARED_DIR

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FfnkitError, Tokenizer, generate, generateIds, loadModel } from 'ffnkit';

const shared = process.argv[2];
const golden = JSON.parse(readFileSync(join(shared, 'golden', 'stories260K-greedy.json'), 'utf8')).greedy[0];
const modelPath = join(shared, 'models', 'stories260K.bin');
const tokenizer = await Tokenizer.load(join(shared, 'models', 'tok512.bin'));
const prompt = tokenizer.encode(golden.prompt, { bos: true });
const maxTokens = golden.ids.length - prompt.length;

for (const threads of [1, 2]) {
  const model = await loadModel(modelPath, { threads });
  assert.equal(model.engine.threads, threads, `the engine runs ${model.engine.threads} threads, asked for ${threads}`);
  const ids = [...prompt, ...generateIds(model, prompt, { temperature: 0, maxTokens })];
  assert.deepEqual(ids, golden.ids, `greedy ids on ${threads} thread(s) differ from the golden ids`);
  model.engine.close();
}
let text = golden.prompt;
for await (const piece of generate(await loadModel(modelPath), tokenizer, golden.prompt, { temperature: 0, maxTokens })) text += piece;

const SUBPATHS = { 'ffnkit/node': 'loadModel', 'ffnkit/kernels': 'Kernels', 'ffnkit/factor': 'factorizeModel', 'ffnkit/train': 'finetune', 'ffnkit/mixer': 'FfnetModel' };
const INTERNALS = ['softmax64', 'kernelOf', 'paTargets', 'combinationWeights', 'rng', 'randomLlamaWeights', 'uploadMatrix', 'setLocalFiles', 'setWorkerFactory', 'importPeer'];
const entries = { ffnkit: await import('ffnkit') };
for (const [subpath, name] of Object.entries(SUBPATHS)) {
  entries[subpath] = await import(subpath);
  assert.equal(typeof entries[subpath][name], 'function', `${subpath} does not export ${name}`);
}
for (const [subpath, m] of Object.entries(entries)) {
  const leaked = INTERNALS.filter((n) => n in m);
  assert.deepEqual(leaked, [], `${subpath} exports internals: ${leaked.join(', ')}`);
}

const onnx = await import('ffnkit/onnx').then(() => undefined, (e) => e);
assert.ok(onnx instanceof FfnkitError, `ffnkit/onnx without onnx-proto: expected an FfnkitError, got ${onnx}`);
assert.equal(onnx.code, 'E_UNSUPPORTED');
assert.match(onnx.message, /needs the package 'onnx-proto'.*npm install onnx-proto/);

console.log(JSON.stringify({ greedy: 'golden ids on 1 and 2 threads', promptTokens: prompt.length, text, subpaths: Object.keys(entries), onnx: onnx.message }));
