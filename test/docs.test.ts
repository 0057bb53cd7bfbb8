// Every code block of README.md and docs/api.md runs as a reader would run it: each ```js / ```ts
// block as a program in a fresh folder where `ffnkit` is installed (a link to this checkout, so
// the package's own "exports" resolve it to dist/), with plain `node` and no flags; each
// `npx ffnkit` line of a ```sh block through the package's bin. All of them type-check against
// the package's declarations, so a misspelled function or option fails too. `../shared` in the
// docs is the shared data folder. Blocks marked `// browser` run in test/browser/docs.test.ts.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CodeBlock, commandLines, docBlocks, missingOutput, root, withShared } from './docs-blocks.js';
import { SHARED } from './shared.js';

const run = promisify(execFile);
const blocks = docBlocks();
const programs = blocks.filter((b) => b.lang !== 'sh');
const nodeRuns = blocks.filter((b) => b.runs.in === 'node' && (b.lang !== 'sh' || commandLines(b.code).length > 0));

/** The package's command, as package.json's "bin" names it. */
function binPath(): string {
  const bin = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: string | Record<string, string> }).bin;
  return join(root, typeof bin === 'string' ? bin : bin.ffnkit!);
}

function fileName(b: CodeBlock): string {
  return `${b.where.replace(/[^A-Za-z0-9]+/g, '-')}.${b.lang === 'ts' ? 'mts' : 'mjs'}`;
}

test('README.md: at most 200 lines, the two commands of a fresh machine within the first 60', () => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  expect(lines.length).toBeLessThanOrEqual(200);
  const head = lines.slice(0, 60).join('\n');
  expect(head).toContain('npm ci && npm test');
  expect(head).toMatch(/^npx ffnkit generate --model \S+ .*--prompt/m);
});

test('the docs have code blocks for every runner', () => {
  expect(nodeRuns.filter((b) => b.lang === 'js').length).toBeGreaterThan(10);
  expect(nodeRuns.filter((b) => b.lang === 'sh').length).toBeGreaterThan(0);
  expect(blocks.filter((b) => b.runs.in !== 'node').length).toBeGreaterThan(1);
});

test("api.md's table of entries names only what each entry exports", async () => {
  const api = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
  const modules: Record<string, () => Promise<Record<string, unknown>>> = {
    ffnkit: () => import('../src/node/index.js'), 'ffnkit/node': () => import('../src/node/index.js'),
    'ffnkit/factor': () => import('../src/entries/node/factor.js'), 'ffnkit/train': () => import('../src/entries/node/train.js'),
    'ffnkit/kernels': () => import('../src/entries/node/kernels.js'), 'ffnkit/mixer': () => import('../src/entries/node/mixer.js'),
    'ffnkit/onnx': () => import('../src/entries/onnx.js'),
  };
  // names the rows use in prose: the root entry ('the same as `ffnkit`'), the error an import throws
  const prose = new Set(['ffnkit', 'FfnkitError']);
  const rows = [...api.matchAll(/^\| `(ffnkit[^`]*)` \| (.*) \|$/gm)];
  expect(rows.map((r) => r[1])).toEqual(Object.keys(modules));
  for (const [, entry, text] of rows) {
    const exports = await modules[entry!]!();
    const names = [...text!.matchAll(/`([A-Za-z_]\w*)`/g)].map((m) => m[1]!).filter((n) => !(prose.has(n) && entry !== 'ffnkit'));
    expect(names.filter((n) => !(n in exports)), entry).toEqual([]);
  }
});

describe.skipIf(!SHARED)('docs code blocks', () => {
  let dir = '';

  beforeAll(() => {
    if (!existsSync(join(root, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'ffnkit-docs-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'ffnkit'), 'dir');
    for (const b of programs) writeFileSync(join(dir, fileName(b)), withShared(b.code, SHARED!));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every program type-checks against the package\'s declarations', async () => {
    // the examples are JavaScript a reader copies: no null checks or implicit-any errors, the rest strict
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
        allowJs: true, checkJs: true, noEmit: true, strict: true, strictNullChecks: false, noImplicitAny: false, useUnknownInCatchVariables: false, skipLibCheck: true,
      },
      files: programs.map(fileName),
    }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(() => '', (e: { stdout: string }) => e.stdout);
    expect(result).toBe('');
  });

  test.each(nodeRuns.map((b) => [b.where, b] as const))('%s runs', async (_, b) => {
    const cwd = join(dir, fileName(b).replace(/\.m[jt]s$/, ''));
    mkdirSync(cwd, { recursive: true });
    const env = { ...process.env, FFNKIT_SHARED: SHARED! };
    let stdout = '';
    if (b.lang === 'sh') {
      for (const line of commandLines(withShared(b.code, SHARED!))) {
        const command = line.replace(/^npx ffnkit /, `"${process.execPath}" "${binPath()}" `);
        stdout += (await run('sh', ['-c', command], { cwd, env, maxBuffer: 1 << 26 })).stdout;
      }
    } else {
      const runner = b.lang === 'ts' ? [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')] : [];
      stdout = (await run(process.execPath, [...runner, join(dir, fileName(b))], { cwd, env, maxBuffer: 1 << 26 })).stdout;
    }
    expect(missingOutput(stdout, b.expected), `output of ${b.where}:\n${stdout}`).toBeUndefined();
  }, 180_000); // an sh block starts the command several times
});
