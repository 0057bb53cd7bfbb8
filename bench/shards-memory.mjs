// Peak memory of reading a Hugging Face checkpoint from one model.safetensors against the same
// tensors in 4 shards with model.safetensors.index.json: a Llama of 58M parameters (223 MiB of
// F32) written both ways into a temporary directory, then `readWeights` (no engine, no wasm) in
// a fresh process per read, alternating, 3 rounds; each prints its peak RSS (VmHWM, Linux).
// Runs dist/ (so `npm run build` first): `node bench/shards-memory.mjs`.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
// VmHWM (Linux): the peak RSS of this process's own memory; getrusage's maxRSS survives exec,
// so a child would report the parent's peak
const peakMiB = () => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024);

if (process.argv[2] === '--read') {
  const { readWeights } = await lib('node/index.js');
  if (process.argv[3] === undefined) {
    console.log(JSON.stringify({ peakRssMiB: peakMiB() }));
    process.exit(0);
  }
  const t = performance.now();
  await readWeights(process.argv[3]);
  console.log(JSON.stringify({ peakRssMiB: peakMiB(), ms: Math.round(performance.now() - t) }));
  process.exit(0);
}

const { writeHfLlama, parseSafetensors, writeSafetensors } = await lib('node/index.js');
const { llamaConfig, randomLlamaWeights } = await lib('llm/random.js');
const { safetensorsData } = await lib('formats/safetensors.js');
const dir = mkdtempSync(join(tmpdir(), 'ffnkit-shards-memory-'));
try {
  const w = randomLlamaWeights(llamaConfig({ dim: 512, hiddenDim: 1408, nLayers: 8, nHeads: 8, nKvHeads: 8, vocabSize: 32000, seqLen: 256, ropeStyle: 'half', sharedClassifier: false }), 1);
  const { configJson, safetensors } = writeHfLlama(w, 'F32');
  for (const d of ['single', 'sharded']) {
    mkdirSync(join(dir, d));
    writeFileSync(join(dir, d, 'config.json'), configJson);
  }
  writeFileSync(join(dir, 'single', 'model.safetensors'), safetensors);
  const file = parseSafetensors(safetensors);
  const names = [...file.tensors.keys()];
  const n = 4;
  const per = Math.ceil(names.length / n);
  const weightMap = {};
  let total = 0;
  for (let i = 0; i < n; i++) {
    const shard = `model-0000${i + 1}-of-0000${n}.safetensors`;
    const part = names.slice(i * per, (i + 1) * per).map((name) => ({ name, shape: file.tensors.get(name).shape, data: safetensorsData(file, safetensors, name) }));
    for (const t of part) {
      weightMap[t.name] = shard;
      total += t.data.byteLength;
    }
    writeFileSync(join(dir, 'sharded', shard), writeSafetensors(part));
  }
  writeFileSync(join(dir, 'sharded', 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  console.log(`weights ${(total / 2 ** 20).toFixed(0)} MiB; largest shard ${(Math.max(...[0, 1, 2, 3].map((i) => names.slice(i * per, (i + 1) * per).reduce((a, name) => a + file.tensors.get(name).end - file.tensors.get(name).begin, 0))) / 2 ** 20).toFixed(0)} MiB`);
  console.log(`node alone: ${execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--read'], { encoding: 'utf8' }).trim()}`);
  for (let round = 0; round < 3; round++) {
    for (const d of ['single', 'sharded']) console.log(d, execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--read', join(dir, d)], { encoding: 'utf8' }).trim());
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
