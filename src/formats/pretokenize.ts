// Pre-tokenizers: the regular expressions that cut text into words before BPE merges them, by
// the name GGUF files give them (`tokenizer.ggml.pre`, as llama.cpp's llama-vocab.cpp), and the
// translation of a Hugging Face (Oniguruma) pattern into a JavaScript one.
//
// A pre-tokenizer is a list of steps; each step cuts every piece from the step before into the
// matches of its expression and the text between them, both kept (Hugging Face's "Isolated"
// split; llama.cpp's unicode_regex_split). `\s` means Unicode White_Space, as in Oniguruma and
// llama.cpp (JavaScript's `\s` also holds U+FEFF and lacks U+0085), so it is spelled out.

import { FfnkitError } from '../errors.js';

/** Unicode White_Space, the set `\s` matches in Oniguruma and llama.cpp's unicode tables. */
export const WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';

/** Cuts one piece into pieces, appending them to `out`. */
export type SplitStep = (piece: string, out: string[]) => void;

/** Cuts text into words: each step applied to every piece of the step before. */
export class PreTokenizer {
  constructor(readonly steps: readonly SplitStep[]) {}

  split(text: string): string[] {
    let pieces = [text];
    for (const step of this.steps) {
      const next: string[] = [];
      for (const p of pieces) step(p, next);
      pieces = next;
    }
    return pieces;
  }
}

/** How a split treats the text its expression matches (Hugging Face's SplitDelimiterBehavior). */
export type SplitBehavior = 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Removed';

/** A step cutting at every match of `re` (which must have the g flag). */
export function splitStep(re: RegExp, behavior: SplitBehavior = 'Isolated'): SplitStep {
  return (text, out) => {
    re.lastIndex = 0;
    let last = 0; // end of the text already given out
    let pending = -1; // MergedWithNext: start of a delimiter waiting for the text after it
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (end === start) {
        // an empty match cuts nothing; step over one code point so the scan moves on
        re.lastIndex = end + (text.codePointAt(end)! > 0xffff ? 2 : 1);
        continue;
      }
      if (behavior === 'Isolated') {
        if (start > last) out.push(text.slice(last, start));
        out.push(m[0]);
      } else if (behavior === 'Removed') {
        if (start > last) out.push(text.slice(last, start));
      } else if (behavior === 'MergedWithPrevious') {
        out.push(text.slice(last, end));
      } else {
        const from = pending >= 0 ? pending : last;
        if (start > from) out.push(text.slice(from, start));
        pending = start;
      }
      last = end;
    }
    if (behavior === 'MergedWithNext' && pending >= 0) {
      out.push(text.slice(pending));
    } else if (last < text.length) {
      out.push(text.slice(last));
    }
  };
}

/** An Oniguruma pattern as a JavaScript string literal pattern (for a Split with a String). */
export function escapeLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/-]/g, '\\$&');
}

/**
 * Translates a pattern written for Oniguruma (tokenizer.json) or llama.cpp into a JavaScript
 * regular expression with the g and u flags: `\s`/`\S` become White_Space classes, `(?i:...)`
 * groups are expanded to both cases (ASCII letters, as llama.cpp's adapted patterns do), `\d` is
 * `\p{Nd}`. Constructs JavaScript lacks (nested classes, intersections, atomic groups, possessive
 * quantifiers, inline flags) are refused with E_UNSUPPORTED naming `what`.
 */
export function compilePattern(pattern: string, what: string): RegExp {
  const refuse = (why: string) => new FfnkitError('E_UNSUPPORTED', `${what}: pattern ${JSON.stringify(pattern)}: ${why}`);
  let out = '';
  let inClass = false;
  let caseless = 0; // depth inside (?i: ... ) groups
  const groups: boolean[] = []; // per open group: is it a (?i: group
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) throw refuse('ends with a backslash');
      i++;
      if (e === 's') out += inClass ? WHITESPACE : `[${WHITESPACE}]`;
      else if (e === 'S') {
        if (inClass) throw refuse('\\S inside a character class');
        out += `[^${WHITESPACE}]`;
      } else if (e === 'd') out += '\\p{Nd}';
      else if (e === 'p' || e === 'P') {
        const close = pattern.indexOf('}', i);
        if (pattern[i + 1] !== '{' || close < 0) throw refuse(`\\${e} without {name}`);
        out += pattern.slice(i - 1, close + 1);
        i = close;
      } else if (/[rntfv0]/.test(e)) out += `\\${e}`;
      else if (e === 'x' || e === 'u') {
        out += `\\${e}`;
      } else if (/[A-Za-z0-9]/.test(e)) {
        throw refuse(`escape \\${e}`);
      } else {
        // any other escaped character stands for itself (JavaScript's u flag allows few identity escapes)
        out += `\\u{${e.codePointAt(0)!.toString(16)}}`;
      }
      continue;
    }
    if (inClass) {
      if (c === '[') throw refuse('nested character class');
      if (c === '&' && pattern[i + 1] === '&') throw refuse('class intersection');
      if (c === ']') inClass = false;
      out += caseless > 0 && /[A-Za-z]/.test(c) ? c.toLowerCase() + c.toUpperCase() : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') out += pattern[++i];
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        groups.push(true);
        caseless++;
        out += '(?:';
        i += 3;
        continue;
      }
      if (pattern[i + 1] === '?' && !/^\(\?(?::|=|!|<=|<!)/.test(pattern.slice(i, i + 4))) throw refuse('group kind (?' + pattern[i + 2]);
      groups.push(false);
      out += c;
      continue;
    }
    if (c === ')') {
      if (groups.pop()) caseless--;
      out += c;
      continue;
    }
    if ((c === '+' || c === '*' || c === '?' || c === '}') && pattern[i + 1] === '+') throw refuse('possessive quantifier');
    out += caseless > 0 && /[A-Za-z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
  }
  try {
    return new RegExp(out, 'gu');
  } catch (e) {
    throw refuse((e as Error).message);
  }
}

// ---- the pre-tokenizers GGUF files name ---------------------------------------------------

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CJK = '[\\u4E00-\\u9FA5\\u0800-\\u4E00\\uAC00-\\uD7FF]+';
// DeepSeek LLM's cased-letter list, as its tokenizer.json spells it (not quite \p{LC})
const DEEPSEEK_LETTERS =
  '\\u{41}-\\u{5A}\\u{61}-\\u{7A}\\u{B5}\\u{C0}-\\u{D6}\\u{D8}-\\u{F6}\\u{F8}-\\u{1BA}\\u{1BC}-\\u{1BF}\\u{1C4}-\\u{293}\\u{295}-\\u{2AF}' +
  '\\u{370}-\\u{373}\\u{376}\\u{377}\\u{37B}-\\u{37D}\\u{37F}\\u{386}\\u{388}-\\u{38A}\\u{38C}\\u{38E}-\\u{3A1}\\u{3A3}-\\u{3F5}\\u{3F7}-\\u{481}' +
  '\\u{48A}-\\u{52F}\\u{531}-\\u{556}\\u{10A0}-\\u{10C5}\\u{13A0}-\\u{13F5}\\u{13F8}-\\u{13FD}\\u{1C90}-\\u{1CBA}\\u{1CBD}-\\u{1CBF}' +
  '\\u{1D00}-\\u{1D2B}\\u{1D6B}-\\u{1D77}\\u{1D79}-\\u{1D9A}\\u{1E00}-\\u{1F15}\\u{1F18}-\\u{1F1D}\\u{1F20}-\\u{1F45}\\u{1F48}-\\u{1F4D}' +
  '\\u{1F50}-\\u{1F57}\\u{1F59}\\u{1F5B}\\u{1F5D}\\u{1F5F}-\\u{1F7D}\\u{1F80}-\\u{1FB4}\\u{1FB6}-\\u{1FBC}\\u{1FBE}\\u{1FC2}-\\u{1FC4}' +
  '\\u{1FC6}-\\u{1FCC}\\u{1FD0}-\\u{1FD3}\\u{1FD6}-\\u{1FDB}\\u{1FE0}-\\u{1FEC}\\u{1FF2}-\\u{1FF4}\\u{1FF6}-\\u{1FFC}\\u{2102}\\u{2107}' +
  '\\u{210A}-\\u{2113}\\u{2115}\\u{2119}-\\u{211D}\\u{2124}\\u{2126}\\u{2128}\\u{212A}-\\u{212D}\\u{212F}-\\u{2134}\\u{2139}\\u{213C}-\\u{213F}' +
  '\\u{2145}-\\u{2149}\\u{214E}\\u{2183}\\u{2184}\\u{2C00}-\\u{2C7B}\\u{2C7E}-\\u{2CE4}\\u{2CEB}-\\u{2CEE}\\u{2CF2}\\u{2CF3}\\u{A640}-\\u{A66D}' +
  '\\u{A680}-\\u{A69B}\\u{A722}-\\u{A76F}\\u{A771}-\\u{A787}\\u{A78B}-\\u{A78E}\\u{AB70}-\\u{ABBF}\\u{FB00}-\\u{FB06}\\u{FB13}-\\u{FB17}' +
  '\\u{FF21}-\\u{FF3A}\\u{FF41}-\\u{FF5A}\\u{10400}-\\u{1044F}\\u{104B0}-\\u{104D3}\\u{104D8}-\\u{104FB}\\u{10C80}-\\u{10CB2}\\u{10CC0}-\\u{10CF2}' +
  '\\u{118A0}-\\u{118DF}\\u{1E900}-\\u{1E943}';
const DEEPSEEK_PUNCTUATION = '!-/:-~\\uFF01-\\uFF0F\\uFF1A-\\uFF5E\\u2018-\\u201F\\u3000-\\u3002';

/** What a GGUF pre-tokenizer name stands for. */
export interface NamedPreTokenizer {
  /** The split expressions, applied in order. */
  patterns: readonly string[];
  /** A word that is itself a token is not merged (Llama 3's ignore_merges). */
  ignoreMerges: boolean;
  /** BOS is added unless `tokenizer.ggml.add_bos_token` says otherwise. */
  addBos: boolean;
}

const named = (patterns: string[], ignoreMerges = false, addBos = false): NamedPreTokenizer => ({ patterns, ignoreMerges, addBos });
const LLAMA3_FAMILY = named([LLAMA3], true, true);
const QWEN2_FAMILY = named([QWEN2]);
const GPT2_FAMILY = named([GPT2]);
const STARCODER_FAMILY = named(['\\p{N}', GPT2]);

/** The `tokenizer.ggml.pre` names ffnkit implements, each as llama.cpp's llama-vocab.cpp does. */
export const PRE_TOKENIZERS: Readonly<Record<string, NamedPreTokenizer>> = {
  default: named(['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]']),
  llama3: LLAMA3_FAMILY,
  'llama-v3': LLAMA3_FAMILY,
  'llama-bpe': LLAMA3_FAMILY,
  falcon3: LLAMA3_FAMILY,
  dbrx: named([LLAMA3]),
  'smaug-bpe': named([LLAMA3]),
  qwen2: QWEN2_FAMILY,
  'deepseek-r1-qwen': QWEN2_FAMILY,
  stablelm2: QWEN2_FAMILY,
  megrez: QWEN2_FAMILY,
  'gpt-2': GPT2_FAMILY,
  'phi-2': GPT2_FAMILY,
  mpt: GPT2_FAMILY,
  olmo: GPT2_FAMILY,
  starcoder: STARCODER_FAMILY,
  refact: STARCODER_FAMILY,
  smollm: STARCODER_FAMILY,
  'command-r': STARCODER_FAMILY,
  codeshell: STARCODER_FAMILY,
  exaone: STARCODER_FAMILY,
  'minerva-7b': STARCODER_FAMILY,
  falcon: named(['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]']),
  'deepseek-llm': named(['[\\r\\n]', `\\s?[${DEEPSEEK_LETTERS}]+`, `\\s?[${DEEPSEEK_PUNCTUATION}]+`, '\\s+$', CJK, '\\p{N}+']),
  'deepseek-coder': named(['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', CJK, '\\p{N}']),
};

/** The pre-tokenizer a GGUF file names; unknown names are refused (E_UNSUPPORTED) naming the key. */
export function namedPreTokenizer(name: string, source: string): NamedPreTokenizer & { split: PreTokenizer } {
  const known = Object.hasOwn(PRE_TOKENIZERS, name) ? PRE_TOKENIZERS[name] : undefined;
  if (!known) {
    throw new FfnkitError('E_UNSUPPORTED', `${source}: tokenizer.ggml.pre '${name}' is not a pre-tokenizer ffnkit knows (${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  }
  const key = `${source}: tokenizer.ggml.pre '${name}'`;
  return { ...known, split: new PreTokenizer(known.patterns.map((p) => splitStep(compilePattern(p, key)))) };
}

/** The GGUF name of a pre-tokenizer given by its expressions, if ffnkit knows one (for writing GGUF). */
export function preTokenizerName(patterns: readonly string[], ignoreMerges: boolean): string | undefined {
  const key = JSON.stringify(patterns);
  const preferred = ['llama-bpe', 'qwen2', 'gpt-2', 'dbrx', 'starcoder', 'falcon', 'deepseek-llm', 'deepseek-coder', 'default'];
  return preferred.find((n) => JSON.stringify(PRE_TOKENIZERS[n]!.patterns) === key && PRE_TOKENIZERS[n]!.ignoreMerges === ignoreMerges);
}
