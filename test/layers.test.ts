// The folders of src/ are layers: a module may import from its own folder, from a folder below
// it, and from the root files every layer shares (errors.ts, rng.ts, options.ts). The order is written once,
// in docs/architecture.md, and read from there; this test fails on an import that goes up a
// layer or sideways, and so on any cycle between folders. The package's entry points are
// src/index.ts (which may re-export every layer), src/node/index.ts and the modules of
// src/entries/ (the subpaths, a layer above the library that only the CLI builds on).

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

/** The layer order from docs/architecture.md's `layers:` line, bottom first. */
function layerOrder(): string[] {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const line = /^layers \(bottom first\):(.*)$/m.exec(doc);
  if (!line) throw new Error('docs/architecture.md has no "layers (bottom first):" line');
  return line[1]!.trim().split(/\s+/);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
export function importsOf(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  for (const m of code.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out.filter((s) => s.startsWith('.'));
}

/** The first-level folder of src/ a file is in, or its name for a root file. */
function layerOf(file: string): string {
  return relative(src, file).split(sep)[0]!;
}

const SHARED_ROOT_FILES = new Set(['errors.ts', 'rng.ts', 'options.ts']);
const ENTRY = 'index.ts';

describe('layers', () => {
  const order = layerOrder();
  const rank = new Map(order.map((name, i) => [name, i]));

  test('every first-level folder of src/ is in the order, and the order names only folders', () => {
    const folders = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory());
    expect([...folders].sort()).toEqual([...order].sort());
  });

  test('imports go down the layers only', () => {
    const bad: string[] = [];
    for (const file of sourceFiles(src)) {
      const from = layerOf(file);
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = normalize(join(dirname(file), spec.replace(/\.js$/, '.ts')));
        const rel = relative(src, target);
        if (rel.startsWith('..')) {
          bad.push(`${relative(root, file)} imports ${spec}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to === from || SHARED_ROOT_FILES.has(to)) continue;
        if (from === ENTRY) continue; // the package entry re-exports every layer
        if (to === ENTRY) {
          if (from !== 'node') bad.push(`${relative(root, file)} imports the package entry`);
          continue;
        }
        const a = rank.get(from);
        const b = rank.get(to);
        if (a === undefined || b === undefined || b > a) bad.push(`${relative(root, file)} (${from}) imports ${spec} (${to}), a layer above`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("package.json's exports point at the entry modules, and every entry module is exported", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | Record<string, string>> };
    const bad: string[] = [];
    const exported = new Set<string>();
    for (const [subpath, targets] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      const byCondition = typeof targets === 'string' ? { default: targets } : targets;
      if (!byCondition.types) bad.push(`${subpath} has no types`);
      for (const [condition, target] of Object.entries(byCondition)) {
        const source = /^\.\/dist\/(.+)\.(?:d\.ts|js)$/.exec(target)?.[1];
        if (!source || !existsSync(join(src, `${source}.ts`))) {
          bad.push(`${subpath} (${condition}): ${target} is not compiled from a module of src/`);
          continue;
        }
        if (source !== 'index' && source !== 'node/index' && !source.startsWith('entries/')) bad.push(`${subpath} (${condition}): ${target} is not an entry module`);
        exported.add(`${source}.ts`);
      }
    }
    for (const file of sourceFiles(join(src, 'entries'))) {
      if (!exported.has(relative(src, file).split(sep).join('/'))) bad.push(`${relative(root, file)} is in src/entries but no export points at it`);
    }
    expect(bad).toEqual([]);
  });

  test('the import scanner sees static, re-export, side-effect and dynamic imports', () => {
    const code = "import { a } from './x.js';\nexport { b } from '../y.js';\nimport './z.js';\nconst m = await import('./w.js');\nimport type { T } from 'node:fs';";
    expect(importsOf(code)).toEqual(['./x.js', '../y.js', './w.js', './z.js']);
  });
});
