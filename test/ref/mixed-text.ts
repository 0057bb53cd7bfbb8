// Text that exercises tokenizers: many scripts, code, emoji (with joiners and variation
// selectors), whitespace runs, contractions, long numbers, special-token look-alikes. The tests
// compare encoders on these strings; the tokenizer benchmark encodes a megabyte made of them.

import { rng } from '../../testing/random.js';

export const MIXED_STRINGS: readonly string[] = [
  'Hello world',
  '  leading and trailing  ',
  'Привет, мир! Как дела? Съешь же ещё этих мягких французских булок.',
  '日本語のテキストと中文混合，还有标点符号。「引用」',
  '한국어 문장입니다. 띄어쓰기도 있어요!',
  'مرحبا بالعالم، كيف حالك؟',
  'हिन्दी पाठ और संख्याएँ १२३४',
  'Ελληνικά: Καλημέρα κόσμε · ΑΒΓ',
  'ภาษาไทยไม่มีช่องว่างระหว่างคำ',
  'Ünïcödé çàfé naïve façade Æsir Œuvre ß',
  'function f(x) {\n\treturn x * 2; // comment\n}\n',
  'def main():\n    print("hi")\n\n\n    if a >= b and c != d: pass\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
  '<html><body><table class="x"></table></body></html>',
  '{"key": [1, 2.5, -3e10], "nested": {"a": null, "b": true}}',
  '🦙🚀😶‍🌫️👨‍👩‍👧‍👦 emoji ✅ ❤️ 🏳️‍🌈 🇺🇳',
  '     many     spaces\t\t\ttabs\n\n\n\nnewlines \n \n\n \t \t',
  '\r\n\r\nwindows line ends\r\n',
  '12345678901234567890 3.14159 1,000,000 0x7fffffff 1e-9 ٣٤٥',
  "I'm sure you'll see they've DONE IT'S what we'd say, 'tis",
  'x'.repeat(300),
  `${' '.repeat(40)}end`,
  'a\u00a0b\u3000c\u2009d\u200be\u2028f',
  'Cửa Việt, tiếng Việt có dấu',
  '!!!!!!?????......------=======',
  'camelCaseIdentifier snake_case_name kebab-case-name SCREAMING_CASE',
  'https://example.com/path?query=1&other=two#frag user@example.org',
];

/** Special-token look-alikes of the vocabularies the tests use (parsed only when asked). */
export const SPECIAL_STRINGS: readonly string[] = [
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  '<start_of_turn>user\nhello<end_of_turn>\n',
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nbe brief<|eot_id|>',
  'text <|endoftext|> more text',
  '<think>reasoning</think> answer <tool_call>{}</tool_call>',
];

/** Random strings of code points from many blocks (no lone surrogates), for round trips. */
export function randomStrings(count: number, seed: number): string[] {
  const next = rng(seed);
  const blocks: [number, number][] = [
    [0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x370, 0x52f], [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f],
    [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x2000, 0x206f], [0xfe00, 0xfe0f], [0x1f300, 0x1faff], [0x10000, 0x1007f],
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const cps: number[] = [];
    const len = 1 + Math.floor(next() * 40);
    for (let j = 0; j < len; j++) {
      const [lo, hi] = blocks[Math.floor(next() * blocks.length)]!;
      cps.push(lo + Math.floor(next() * (hi - lo + 1)));
    }
    out.push(String.fromCodePoint(...cps));
  }
  return out;
}

/** About `bytes` bytes (UTF-8) of mixed text: the strings above in a seeded order, cut at a character boundary. */
export function mixedText(bytes: number, seed = 1): string {
  const next = rng(seed);
  const enc = new TextEncoder();
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const s = MIXED_STRINGS[Math.floor(next() * MIXED_STRINGS.length)]! + (next() < 0.5 ? ' ' : '\n');
    const size = enc.encode(s).length;
    if (n + size > bytes) {
      // the last string, as many whole characters as still fit
      let tail = '';
      for (const ch of s) {
        const b = enc.encode(ch).length;
        if (n + b > bytes) break;
        tail += ch;
        n += b;
      }
      parts.push(tail);
      break;
    }
    parts.push(s);
    n += size;
  }
  return parts.join('');
}
