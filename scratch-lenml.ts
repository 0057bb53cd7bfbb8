import { readFileSync } from 'node:fs';
import { TokenizerLoader } from '@lenml/tokenizers';
import { Tokenizer } from './src/node/index.js';
const L = 'node_modules/@lenml/';
const strings = [
  'Hello world', '  leading and trailing  ', 'Привет, мир! Как дела?', '日本語のテキストと中文混合', '한국어 문장입니다.', 'مرحبا بالعالم', 'हिन्दी पाठ',
  'function f(x) {\n\treturn x * 2; // comment\n}\n', 'def main():\n    print("hi")\n\n\n', '🦙🚀😶‍🌫️👨‍👩‍👧‍👦 emoji ✅', '     many     spaces\t\t\ttabs\n\n\n\nnewlines',
  '12345678901234567890 3.14159 1,000,000', "I'm sure you'll see they've DONE IT'S", 'Ünïcödé çàfé naïve', '\r\n\r\nwindows\r\n', 'x'.repeat(300), ' '.repeat(40) + 'end',
  '<|im_start|>user\nhi<|im_end|>', '<start_of_turn>user\nhello<end_of_turn>', '<|begin_of_text|><|start_header_id|>system<|end_header_id|>', '<html><body><table></table></body></html>', 'a\u00a0b\u3000c\u2009d', 'Cửa Việt', 'e\u0301 combining',
];
for (const [pkg, name] of [['tokenizer-llama3', 'llama3'], ['tokenizer-qwen3', 'qwen3'], ['tokenizer-gemma3', 'gemma3']]) {
  const dir = `${L}${pkg}/models/`;
  const t0 = Date.now();
  const ref = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(readFileSync(dir + 'tokenizer.json', 'utf8')), tokenizerConfig: JSON.parse(readFileSync(dir + 'tokenizer_config.json', 'utf8')) });
  const t1 = Date.now();
  const ours = await Tokenizer.load(dir);
  const t2 = Date.now();
  console.log(name, 'load ms lenml', t1 - t0, 'ours', t2 - t1, 'vocab', ours.vocabSize, 'bos', ours.bosId, ours.addBos, 'eos', ours.eosId, 'eot', ours.eotId);
  let bad = 0;
  for (const s of strings) {
    const exp = ref.encode(s, { add_special_tokens: false });
    const got = ours.encode(s, { bos: false, parseSpecial: true });
    if (JSON.stringify(exp) !== JSON.stringify(got)) { bad++; console.log(' DIFF', JSON.stringify(s).slice(0, 60), '\n  ref', JSON.stringify(exp).slice(0, 300), '\n  got', JSON.stringify(got).slice(0, 300)); }
    const d = ours.decode(ours.encode(s, { bos: false }));
    if (d !== s) console.log(' roundtrip', JSON.stringify(s).slice(0, 50), JSON.stringify(d).slice(0, 50));
    const withSpecial = ref.encode(s, { add_special_tokens: true });
    const oursSpecial = ours.encode(s, { parseSpecial: true });
    if (JSON.stringify(withSpecial) !== JSON.stringify(oursSpecial)) console.log(' BOS DIFF', JSON.stringify(withSpecial.slice(0, 3)), JSON.stringify(oursSpecial.slice(0, 3)));
    const refDec = ref.decode(exp, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    const ourDec = ours.decode(got, { special: true });
    if (refDec !== ourDec) console.log(' DEC DIFF', JSON.stringify(refDec).slice(0, 60), JSON.stringify(ourDec).slice(0, 60));
  }
  console.log(name, 'diffs', bad);
}
