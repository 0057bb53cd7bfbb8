#!/usr/bin/env node
// The package as a user gets it. Packs the tarball with `npm pack` (whose prepack builds it),
// checks what it holds, installs it with `npm install <tarball>` into a fresh temporary project,
// and there:
//   (a) runs the installed command: `npx ffnkit --version`, greedy `generate --ids` against
//       llama2.c's golden ids, and `bench`, which must say that the suites run from a checkout;
//   (b) imports the package in Node (package-check/node-check.mjs; kernels-check.mjs imports a
//       subpath alone) and type-checks an import of every entry (package-check/types-check.ts);
//   (c) bundles a page that imports it with Vite (package-check/index.html) and runs it in
//       headless Chromium: the golden ids on the main thread and in a Worker on two threads, the
//       wasm builds and the pool's worker script found by the bundler in the installed package.
// Usage: node scripts/check-package.mjs [--no-build] [--keep]
//   --no-build packs the dist/ and build/ already there; --keep leaves the temporary project.
// Needs the shared data (FFNKIT_SHARED, else ../shared) and /usr/bin/chromium.

import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = join(root, 'scripts', 'package-check');
const shared = resolve(process.env.FFNKIT_SHARED ?? join(root, '..', 'shared'));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/** Packages a fresh install may bring, ffnkit included. */
const MAX_PACKAGES = 6;
const noBuild = process.argv.includes('--no-build');
const keep = process.argv.includes('--keep');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const golden = JSON.parse(readFileSync(join(shared, 'golden', 'stories260K-greedy.json'), 'utf8')).greedy[0];
const model = join(shared, 'models', 'stories260K.bin');
const tokenizer = join(shared, 'models', 'tok512.bin');
if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} not found (apt-get install -y chromium; .ci/run does it)`);

function fail(why) {
  console.error(`check-package: FAILED: ${why}`);
  process.exit(1);
}

function check(ok, why) {
  if (!ok) fail(why);
}

function say(what) {
  console.log(`check-package: ${what}`);
}

/** Runs a command to completion; a non-zero exit fails the check unless `mayFail`. */
function run(cmd, args, cwd, mayFail = false) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0 && !mayFail) fail(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r;
}

const sameIds = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const started = performance.now();
const work = mkdtempSync(join(tmpdir(), 'ffnkit-package-'));

// the tarball and what it holds
say(noBuild ? 'npm pack --ignore-scripts (the current build)' : 'npm pack (prepack builds the wasm and dist/)');
run('npm', ['pack', '--pack-destination', work, ...(noBuild ? ['--ignore-scripts'] : [])], root);
const tarball = join(work, `${pkg.name}-${pkg.version}.tgz`);
const files = run('tar', ['-tzf', tarball], root).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
const unwanted = files.filter((f) => (/\.[cm]?tsx?$/.test(f) && !f.endsWith('.d.ts')) || f.endsWith('.map') || /^(bench|test|src|assembly|scripts|web)\//.test(f) || f.includes('node_modules/'));
check(unwanted.length === 0, `the tarball holds sources, tests, benchmarks or source maps:\n  ${unwanted.join('\n  ')}`);
const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
const needed = [...Object.values(pkg.bin), ...targets, 'LICENSE', 'README.md', 'package.json', 'dist/cli/main.js', 'dist/node/thread-worker.js', 'dist/runtime/thread-worker-web.js', 'dist/runtime/thread-loop.js']
  .concat(['scalar', 'simd', 'relaxed', 'simd-mt', 'relaxed-mt'].map((b) => `build/ffnkit-${b}.wasm`))
  .map((f) => f.replace(/^\.\//, ''));
// the README's links into docs/ resolve in the installed package too
for (const link of readFileSync(join(root, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#]+)/g)) needed.push(link[1]);
const missing = needed.filter((f) => !files.includes(f));
check(missing.length === 0, `the tarball lacks files the package needs:\n  ${missing.join('\n  ')}`);
say(`tarball: ${files.length} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB; no TypeScript sources, tests, benchmarks or source maps`);

// a fresh project that installs it
const app = join(work, 'app');
mkdirSync(app);
writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'ffnkit-package-check', private: true, type: 'module' }, null, 2)}\n`);
say('npm install <tarball> in a fresh project');
run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], app);
const installed = Object.keys(JSON.parse(readFileSync(join(app, 'node_modules', '.package-lock.json'), 'utf8')).packages).filter((p) => p !== '').map((p) => p.replace(/^.*node_modules\//, ''));
check(installed.length <= MAX_PACKAGES, `installing brought ${installed.length} packages (at most ${MAX_PACKAGES}): ${installed.join(', ')}`);
check(!installed.includes('tsx'), `installing brought tsx: ${installed.join(', ')}`);
say(`installed ${installed.length} packages: ${installed.join(', ')}`);

// (a) the installed command
const ffnkit = (args, mayFail) => run('npx', ['ffnkit', ...args], app, mayFail);
const version = ffnkit(['--version']).stdout.trim();
check(version === pkg.version, `npx ffnkit --version printed '${version}', package.json says ${pkg.version}`);
const generated = ffnkit(['generate', '--model', model, '--tokenizer', tokenizer, '--prompt', golden.prompt, '--temperature', '0', '--max-tokens', String(golden.ids.length), '--ids']);
const cliIds = generated.stdout.trim().split(' ').map(Number);
check(sameIds(cliIds.slice(0, golden.ids.length), golden.ids), `npx ffnkit generate --ids: not the golden ids\n  got    ${cliIds.join(' ')}\n  golden ${golden.ids.join(' ')}`);
const bench = ffnkit(['bench'], true);
check(bench.status === 1 && /run from a checkout/.test(bench.stderr), `npx ffnkit bench: expected exit 1 saying the suites run from a checkout, got ${bench.status}: ${bench.stderr}`);
say(`(a) npx ffnkit --version ${version}; generate --ids gives the ${golden.ids.length} golden ids; bench points to a checkout`);

// (b) the package in Node, and its declarations
for (const f of ['node-check.mjs', 'kernels-check.mjs', 'types-check.ts', 'tsconfig.json']) copyFileSync(join(fixture, f), join(app, f));
const nodeRun = run(process.execPath, ['node-check.mjs', shared], app);
const inNode = JSON.parse(nodeRun.stdout.trim().split('\n').pop());
run(process.execPath, ['kernels-check.mjs'], app);
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(app, 'tsconfig.json')], app);
say(`(b) import('ffnkit') in Node: ${inNode.greedy}; ${inNode.subpaths.join(', ')} load without internals; ffnkit/kernels alone runs 2 threads; ffnkit/onnx: ${inNode.onnx}; tsc accepts every entry's types`);

// (c) a page bundled by Vite, in headless Chromium
const page = join(app, 'page');
mkdirSync(page);
for (const f of ['index.html', 'page.js', 'generate-worker.js']) copyFileSync(join(fixture, f), join(page, f));
const { build } = await import('vite');
const bundle = join(app, 'page-dist');
await build({ root: page, configFile: false, logLevel: 'warn', build: { outDir: bundle, emptyOutDir: true, target: 'es2022' }, worker: { format: 'es' } });
const server = await staticServer(bundle);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
try {
  const tab = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors = [];
  // a failed load is reported by the response listener (naming the URL) and once more here
  tab.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && !m.text().startsWith('Failed to load resource') ? errors.push(`${m.type()}: ${m.text()}`) : undefined);
  tab.on('pageerror', (e) => errors.push(e.message));
  tab.on('response', (r) => r.status() >= 400 ? errors.push(`${r.status()}: ${r.url()}`) : undefined);
  const query = new URLSearchParams({ prompt: golden.prompt, 'max-tokens': String(golden.ids.length - inNode.promptTokens) });
  await tab.goto(`http://127.0.0.1:${server.address().port}/?${query}`);
  await tab.waitForSelector('body[data-done]', { timeout: 120_000 });
  const result = await tab.evaluate(() => window.ffnkitCheck);
  mkdirSync(join(root, 'test-output'), { recursive: true });
  const shot = join(root, 'test-output', 'package-page.png');
  await tab.screenshot({ path: shot, fullPage: true });
  check(!result.error, `the page failed: ${result.error}`);
  check(sameIds(result.page.ids, golden.ids), `the page's greedy ids (main thread) are not the golden ids: ${result.page.ids.join(' ')}`);
  check(sameIds(result.worker.ids, golden.ids), `the page's greedy ids (worker, 2 threads) are not the golden ids: ${result.worker.ids.join(' ')}`);
  check(result.worker.threads === 2, `the page's worker ran ${result.worker.threads} thread(s), asked for 2`);
  check(result.page.text === inNode.text && result.worker.text === inNode.text, `the page's text differs from Node's:\n  page   ${result.page.text}\n  worker ${result.worker.text}\n  node   ${inNode.text}`);
  check(errors.length === 0, `the page logged errors or warnings:\n  ${errors.join('\n  ')}`);
  say(`(c) Vite page in Chromium: golden ids on the main thread (${result.page.backend}) and in a Worker on 2 threads; screenshot ${shot}`);
} finally {
  await browser.close();
  server.close();
}

if (!keep) rmSync(work, { recursive: true, force: true });
else say(`kept ${work}`);
say(`passed in ${((performance.now() - started) / 1000).toFixed(0)} s`);

/** The bundle, and the shared models under /shared/models/, cross-origin isolated (SharedArrayBuffer for threads). */
async function staticServer(dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
  const models = join(shared, 'models');
  const http = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const [base, rel] = url.startsWith('/shared/models/') ? [models, url.slice('/shared/models/'.length)] : [dir, url === '/' ? 'index.html' : url.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', types[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  });
  await new Promise((done) => http.listen(0, '127.0.0.1', done));
  return http;
}
