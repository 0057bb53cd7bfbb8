// GPT-2's byte-level alphabet: every byte stands for one printable character, so a vocabulary of
// strings can hold any byte sequence. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
// for themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) map in byte order to
// U+0100 onwards, so a space is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).

/** The character of each byte. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : next++);
  }
  return chars;
})();

/** The byte of each alphabet character, indexed by UTF-16 code (-1 outside the alphabet). */
const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (table[c.charCodeAt(0)] = b));
  return table;
})();

/** The byte-level string of a binary string (one char per byte). */
export function toByteLevel(binary: string): string {
  let s = '';
  for (let i = 0; i < binary.length; i++) s += BYTE_TO_CHAR[binary.charCodeAt(i)]!;
  return s;
}

/** The bytes a byte-level string stands for, as a binary string; undefined if a character is outside the alphabet. */
export function fromByteLevel(text: string): string | undefined {
  let s = '';
  for (let i = 0; i < text.length; i++) {
    const b = CHAR_TO_BYTE[text.charCodeAt(i)] ?? -1;
    if (b < 0) return undefined;
    s += String.fromCharCode(b);
  }
  return s;
}

/** UTF-8 bytes of `text` as a binary string (one char per byte); lone surrogates become U+FFFD, as TextEncoder does. */
export function utf8Binary(text: string): string {
  let s = '';
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      s += text[i];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = text.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) s += String.fromCharCode(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) s += String.fromCharCode(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else s += String.fromCharCode(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return s;
}

/** The bytes of a binary string. */
export function binaryBytes(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
