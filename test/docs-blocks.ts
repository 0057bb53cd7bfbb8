// The code blocks of the front-page docs (README.md, docs/api.md), as the docs tests run them:
// ```js / ```ts blocks are programs importing the package by its name, ```sh blocks are command
// lines of which those starting `npx ffnkit` run. A `// browser` first line marks a page script,
// `// browser worker: NAME.js` a worker script the page loads by that name; both run in
// Chromium (test/browser/docs.test.ts), everything else in Node (test/docs.test.ts). A `// → X`
// (or `# → X`) comment is output the block must print, in order.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DOC_FILES = ['README.md', 'docs/api.md'];

export interface CodeBlock {
  /** Where it is, for test names: `docs/api.md:42`. */
  where: string;
  lang: 'js' | 'ts' | 'sh';
  code: string;
  /** Node program, page script, or worker script (with the file name pages load it by). */
  runs: { in: 'node' } | { in: 'page' } | { in: 'worker'; name: string };
  /** What the block must print, in order. */
  expected: string[];
}

/** The fenced blocks of one markdown text (fences may be indented, as inside a list). */
export function codeBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const out: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
    const body = lines.slice(start, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n');
    i = end;
    const lang = open[2]!;
    if (lang !== 'js' && lang !== 'ts' && lang !== 'sh') continue;
    const first = body.split('\n')[0]!.trim();
    const worker = /^\/\/ browser worker: (\S+)$/.exec(first);
    const runs = worker ? { in: 'worker' as const, name: worker[1]! } : first === '// browser' ? { in: 'page' as const } : { in: 'node' as const };
    out.push({ where: `${file}:${start}`, lang, code: body, runs, expected: expectedOutput(body) });
  }
  return out;
}

/** The `// → X` / `# → X` comments of a block. */
export function expectedOutput(code: string): string[] {
  return [...code.matchAll(/(?:\/\/|#) → (.+)$/gm)].map((m) => m[1]!.trim());
}

/** Every block of the front-page docs. */
export function docBlocks(): CodeBlock[] {
  return DOC_FILES.flatMap((f) => codeBlocks(readFileSync(join(root, f), 'utf8'), f));
}

/** The command lines of an sh block that run: `npx ffnkit ...`, continuation lines joined, benchmarks left out. */
export function commandLines(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('npx ffnkit ') && !l.startsWith('npx ffnkit bench'));
}

/**
 * The first expected piece that `output` lacks, if any: each is a whole line of the output
 * (after the line of the one before), so a doc that shows less than the code prints fails.
 */
export function missingOutput(output: string, expected: string[]): string | undefined {
  const lines = output.split('\n').map((l) => l.trimEnd());
  let at = 0;
  for (const piece of expected) {
    const found = lines.indexOf(piece.trimEnd(), at);
    if (found < 0) return piece;
    at = found + 1;
  }
  return undefined;
}

/** The data paths of the docs (`../shared/...`) pointed at the shared folder. */
export function withShared(code: string, shared: string): string {
  return code.replaceAll('../shared/', `${shared.replace(/\/$/, '')}/`);
}
