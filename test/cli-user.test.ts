// What a new user's first runs found, run as they ran them (a child process per command): bad
// input is an `ffnkit: ...` error naming the file, argument or flag, with nothing half-written
// to stdout or --out, never a stack trace or output that only looks right.

import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { nanModel } from './nan-model.js';
import { SHARED, sharedBytes, sharedPath } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ffnkit.js');
/** The launcher runs the TypeScript sources under test, not a dist/ that may be stale. */
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command line with `stdin` as its input. */
function run(args: string[], stdin = ''): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: FROM_SOURCES });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/**
 * Runs the command line with its stdout read until `bytes` have come, then closed, as
 * `| head -c N` does: the command's next writes fail with EPIPE.
 */
function runClosingStdout(args: string[], bytes: number): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: FROM_SOURCES });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.length >= bytes) child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout: stdout.slice(0, bytes), stderr }));
  });
}

/** Runs the command line with stdout on a file descriptor of `path` (/dev/full: every write fails with ENOSPC). */
function runInto(args: string[], path: string): Promise<Run> {
  const fd = openSync(path, 'w');
  return new Promise<Run>((done, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', fd, 'pipe'], env: FROM_SOURCES });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout: '', stderr }));
  }).finally(() => closeSync(fd));
}

/** No stack trace: no "    at ..." frame and no Node event dump. */
function expectNoStack(r: Run): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toMatch(/Unhandled 'error' event/);
}

const dir = mkdtempSync(join(tmpdir(), 'ffnkit-user-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!SHARED)('a new user\'s runs', () => {
  const bin260 = sharedPath('models', 'stories260K.bin');
  const gguf = sharedPath('models', 'stories260K.gguf');

  test('quantize refuses a tokenizer larger than the embedding up front, naming --tokenizer, and writes nothing', async () => {
    const r = await run(['quantize', '--model', bin260, '--tokenizer', sharedPath('models', 'tokenizer.bin'), '--out', join(dir, 'x.gguf')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ffnkit: --tokenizer: .*tokenizer\.bin has 32000 tokens but .*stories260K\.bin has 512 embedding rows/);
    expectNoStack(r);
    expect(readdirSync(dir).filter((f) => f.startsWith('x.gguf'))).toEqual([]);
  });

  test('a reader that goes away (| head) ends generate and logits quietly with exit 0', async () => {
    const gen = await runClosingStdout(['generate', '--model', gguf, '--prompt', 'Once upon a time', '--max-tokens', '400', '--seed', '1'], 20);
    expect(gen.stdout).toMatch(/^Once upon a time/);
    expect([gen.code, gen.stderr]).toEqual([0, '']);
    const logits = await runClosingStdout(['logits', '--model', gguf, '--ids', '1,403,407,1,403,407,1,403,407', '--json'], 10);
    expect([logits.code, logits.stderr]).toEqual([0, '']);
  });

  test.skipIf(!existsSync('/dev/full'))('a full disk (> /dev/full) is an ffnkit: error on stdout, exit 1', async () => {
    for (const args of [['generate', '--model', gguf, '--prompt', 'Once', '--max-tokens', '40'], ['logits', '--model', gguf, '--ids', '1,403', '--json']]) {
      const r = await runInto(args, '/dev/full');
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^ffnkit: stdout: cannot write \(ENOSPC: no space left on device/);
      expectNoStack(r);
    }
  });

  test('--max-tokens 0 generates nothing: the prompt\'s ids, or the prompt and a newline', async () => {
    const ids = await run(['generate', '--model', gguf, '--prompt', 'Once upon a time', '--max-tokens', '0', '--ids']);
    expect([ids.code, ids.stdout]).toEqual([0, '1 403 407 261 378\n']);
    expect(ids.stderr).toMatch(/^0 tokens in /);
    const text = await run(['generate', '--model', gguf, '--prompt', 'Once upon a time', '--max-tokens', '0']);
    expect([text.code, text.stdout]).toEqual([0, 'Once upon a time\n']);
  });

  test('weights holding NaN: logits, eval and generate (greedy and sampled) exit 1 naming the position, printing no result', async () => {
    const nan = join(dir, 'nan.gguf');
    writeFileSync(nan, nanModel(sharedBytes('models', 'stories260K.gguf')));
    writeFileSync(join(dir, 'story.txt'), 'Once upon a time there was a cat.\n');
    const runs = [
      ['logits', '--model', nan, '--ids', '1,403', '--json'],
      ['eval', '--model', nan, '--text', join(dir, 'story.txt'), '--json'],
      ['generate', '--model', nan, '--prompt', 'Once', '--temperature', '0', '--ids'],
      ['generate', '--model', nan, '--prompt', 'Once', '--seed', '1', '--ids'],
    ];
    for (const args of runs) {
      const r = await run(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([1, '']);
      expect(r.stderr).toMatch(/^ffnkit: (document 1 of 1: )?logits: NaN at position \d+ \(token \d+; logit \d+ of 512\): the model's weights hold a NaN/);
      expectNoStack(r);
    }
  });

  test('bad input is refused before anything reaches stdout: a prompt past the context, --stop "" (naming --stop), NaN logits', async () => {
    const long = await run(['generate', '--model', gguf, '--prompt', 'Once upon a time '.repeat(200), '--max-tokens', '5']);
    expect([long.code, long.stdout]).toEqual([1, '']);
    expect(long.stderr).toMatch(/^ffnkit: prompt: 802 tokens exceed the model's context of 512/);
    const stop = await run(['generate', '--model', gguf, '--prompt', 'Once', '--stop', '', '--max-tokens', '5']);
    expect([stop.code, stop.stdout]).toEqual([2, '']);
    expect(stop.stderr).toMatch(/--stop must be a non-empty string/);
    writeFileSync(join(dir, 'nan5.gguf'), nanModel(sharedBytes('models', 'stories260K.gguf')));
    const nan = await run(['generate', '--model', join(dir, 'nan5.gguf'), '--prompt', 'Once', '--temperature', '0']);
    expect([nan.code, nan.stdout]).toEqual([1, '']);
    expect(nan.stderr).toMatch(/^ffnkit: logits: NaN at position 1/);
  });

  test('chat errors name the flags: --template and its file, --context-shift', async () => {
    writeFileSync(join(dir, 'open.jinja'), '{% for m in messages %}{{ m.content }}{% if x %}');
    const bad = await run(['chat', '--model', gguf, '--template', join(dir, 'open.jinja'), '--max-tokens', '3'], 'Hi\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ffnkit: --template \S*open\.jinja: not a Jinja template the renderer reads \(it ends inside a tag or block that is not closed/);
    expect(bad.stderr).not.toMatch(/template option|reading 'type'/);
    writeFileSync(join(dir, 'plain.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    const chat = ['chat', '--model', gguf, '--template', join(dir, 'plain.jinja'), '--temperature', '0', '--max-tokens', '300'];
    const story = (n: number) => `${'Once upon a time there was a little girl named Lily. '.repeat(n)}\n`;
    const full = await run(chat, story(60)); // 841 tokens: too long to start
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/ffnkit: context: the conversation is 841 tokens and the model's context 512 .*; drop messages, or run with --context-shift to drop the oldest turns\n$/);
    const filled = await run(chat, story(30)); // fills the context while replying
    expect(filled.code).toBe(1);
    expect(filled.stderr).toMatch(/ffnkit: context: the conversation filled the model's context of 512 tokens \(prompt 421 \+ reply 92\); run with --context-shift to drop the oldest turns\n$/);
    for (const r of [bad, full, filled]) expect(r.stderr).not.toMatch(/contextShift/);
  });

  test('logits names --ids for an id outside the vocabulary or more ids than the context; quantize names --allow-requantize', async () => {
    const vocab = await run(['logits', '--model', gguf, '--ids', '1,99999', '--json']);
    expect([vocab.code, vocab.stdout]).toEqual([1, '']);
    expect(vocab.stderr).toMatch(/^ffnkit: --ids: 99999 \(id 2 of 2\) is outside the vocabulary of 512 \(0\.\.511\)/);
    const many = await run(['logits', '--model', gguf, '--ids', new Array(513).fill(1).join(','), '--json']);
    expect(many.stderr).toMatch(/^ffnkit: --ids: 513 ids exceed the model's context of 512/);
    const q8 = join(dir, 'rq8.gguf');
    expect((await run(['quantize', '--model', gguf, '--out', q8])).code).toBe(0);
    const rq = await run(['quantize', '--model', q8, '--type', 'Q4_0', '--out', join(dir, 'rq4.gguf')]);
    expect(rq.code).toBe(1);
    expect(rq.stderr).toMatch(/^ffnkit: --type Q4_0: 30 tensors are in Q8_0 blocks already \(e\.g\. blk\.0\.attn_q\.weight\); requantizing them loses accuracy twice: run with --allow-requantize to do it anyway\n$/);
    expect(existsSync(join(dir, 'rq4.gguf'))).toBe(false);
    expect((await run(['quantize', '--model', q8, '--type', 'Q4_0', '--allow-requantize', '--out', join(dir, 'rq4.gguf')])).code).toBe(0);
  });

  test('eval of a text with nothing to predict names --text and the file', async () => {
    writeFileSync(join(dir, 'empty.txt'), '\n\n');
    const r = await run(['eval', '--model', gguf, '--text', join(dir, 'empty.txt'), '--json']);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(/^ffnkit: --text \S*empty\.txt: no document of two or more tokens/);
  });

  test('a file that is not UTF-8 text (a model given as --text, a binary --messages) is refused naming the flag; a BOM is dropped', async () => {
    const r = await run(['eval', '--model', gguf, '--text', gguf]);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toBe(`ffnkit: --text: ${gguf} is not UTF-8 text (it is a GGUF file)\n`);
    writeFileSync(join(dir, 'latin1.json'), Buffer.from([0x5b, 0xe9, 0x5d]));
    const m = await run(['chat', '--model', gguf, '--messages', join(dir, 'latin1.json'), '--print-prompt']);
    expect(m.stderr).toMatch(/^ffnkit: --messages: \S*latin1\.json is not UTF-8 text\n$/);
    writeFileSync(join(dir, 'bom.txt'), '\ufeffOnce upon a time');
    writeFileSync(join(dir, 'plain.txt'), 'Once upon a time');
    const bom = await run(['eval', '--model', gguf, '--text', join(dir, 'bom.txt'), '--json']);
    const plain = await run(['eval', '--model', gguf, '--text', join(dir, 'plain.txt'), '--json']);
    expect(bom.code, bom.stderr).toBe(0);
    expect(JSON.parse(bom.stdout).nll).toBe(JSON.parse(plain.stdout).nll);
  });

  test('--out: a symlink is written through (the link stays), a FIFO is refused before the work', async () => {
    const target = join(dir, 'target.gguf');
    const link = join(dir, 'link.gguf');
    symlinkSync(target, link);
    const r = await run(['quantize', '--model', gguf, '--type', 'Q8_0', '--out', link]);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target).subarray(0, 4).toString('latin1')).toBe('GGUF');
    const fifo = join(dir, 'pipe.gguf');
    execFileSync('mkfifo', [fifo]);
    const p = await run(['quantize', '--model', gguf, '--type', 'Q8_0', '--out', fifo]);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe(`ffnkit: --out: ${fifo} is not a regular file (a pipe, socket or device); give the path of a file to write\n`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    // a chain of links to a file not written yet ends at the file; a loop is refused
    symlinkSync(join(dir, 'chain-b'), join(dir, 'chain-a'));
    symlinkSync(join(dir, 'chain-c'), join(dir, 'chain-b'));
    expect((await run(['quantize', '--model', gguf, '--type', 'Q8_0', '--out', join(dir, 'chain-a')])).code).toBe(0);
    expect([lstatSync(join(dir, 'chain-b')).isSymbolicLink(), lstatSync(join(dir, 'chain-c')).isFile()]).toEqual([true, true]);
    symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
    symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
    expect((await run(['quantize', '--model', gguf, '--type', 'Q8_0', '--out', join(dir, 'loop-a')])).stderr).toMatch(/^ffnkit: --out: \S*loop-a is a chain of symlinks that does not end/);
  });

  test('a SIGINT while the output is written removes the temporary file and exits 130', async () => {
    // 256 MiB are not written within the tick the signal arrives in
    const script = join(dir, 'interrupt.mts');
    writeFileSync(script, [
      `import { writeOutAtomically } from ${JSON.stringify(join(root, 'src', 'cli', 'common.ts'))};`,
      `setTimeout(() => process.kill(process.pid, 'SIGINT'), 5);`,
      `await writeOutAtomically(${JSON.stringify(join(dir, 'big.out'))}, new Uint8Array(256 << 20));`,
      `console.log('written');`,
    ].join('\n'));
    const r = await new Promise<Run>((done) => {
      const child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), stdout, stderr: '' }));
    });
    expect([r.code, r.stdout]).toEqual([130, '']);
    expect(readdirSync(dir).filter((f) => f.startsWith('big.out'))).toEqual([]);
  });

  test('finetune errors found before training name the flag and no checkpoint; --warmup past --steps is refused', async () => {
    const base = ['finetune', '--model', gguf, '--tokenizer', gguf, '--text', sharedPath('data', 'tinystories-calib.txt'), '--batch', '1', '--out', join(dir, 'ft.gguf')];
    const long = await run([...base, '--steps', '2', '--seq-len', '1000']);
    expect([long.code, long.stderr]).toEqual([1, "ffnkit: --seq-len: 1000 is more than the model's context 512\n"]);
    const warm = await run([...base, '--steps', '2', '--warmup', '5', '--seq-len', '16']);
    expect([warm.code, warm.stderr]).toEqual([1, "ffnkit: --warmup: 5 steps, more than the run's 2 steps (the learning rate would never reach lr)\n"]);
    const teacher = await run([...base, '--steps', '2', '--seq-len', '16', '--teacher', gguf]);
    expect([teacher.code, teacher.stderr]).toEqual([1, 'ffnkit: --teacher: given without distill (the teacher only shapes the distillation targets)\n']);
    const ckpt = await run([...base, '--steps', '2', '--seq-len', '16', '--checkpoint', dir]);
    expect([ckpt.code, ckpt.stderr]).toEqual([1, `ffnkit: --checkpoint: ${dir} is a directory; give the path of the file to write\n`]);
    expect(readdirSync(dir).filter((f) => f.startsWith('ft.gguf'))).toEqual([]);
  });

  test('--skip errors name the flag; a reader that goes away ends bench too', async () => {
    const r = await run(['generate', '--model', gguf, '--prompt', 'Once', '--skip', 'static:4-2']);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(/^ffnkit: --skip 'static:4-2': the range 4-2 runs backwards/);
    const started = performance.now();
    const bench = await runClosingStdout(['bench', 'kernels', '--quick', '--json'], 10);
    expect([bench.code, bench.stderr.replace(/[^\n]*\r/g, '')]).toEqual([0, '']);
    // the whole suite takes minutes; its first line comes within seconds
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  test('options with choices are bad usage, exit 2, whichever they are', async () => {
    for (const [flag, value] of [['--kv-cache', 'q8'], ['--backend', 'gpu'], ['--integer-dot', 'i8']]) {
      const r = await run(['generate', '--model', gguf, '--prompt', 'Once', flag!, value!]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^error: option '${flag} <\\w+>' argument '${value}' is invalid\\. Allowed choices are `));
    }
  });

  test('--out that is a directory, or in a folder that does not exist, is refused up front naming --out', async () => {
    const isDir = await run(['quantize', '--model', gguf, '--out', dir]);
    expect(isDir.code).toBe(1);
    expect(isDir.stderr).toBe(`ffnkit: --out: ${dir} is a directory; give the path of the file to write\n`);
    const nowhere = await run(['prune', '--model', bin260, '--tokenizer', sharedPath('models', 'tok512.bin'), '--calib', 'never-read.txt', '--keep', '8', '--out', join(dir, 'no', 'p.gguf')]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toBe(`ffnkit: --out: the folder ${join(dir, 'no')} of ${join(dir, 'no', 'p.gguf')} does not exist\n`);
  });

  test('generate says on stderr when it stopped at the end of the context before --max-tokens', async () => {
    const args = ['generate', '--model', gguf, '--prompt', 'Once upon a time '.repeat(120), '--temperature', '0', '--max-tokens', '1000'];
    for (const r of [await run(args), await run([...args, '--ids'])]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^stopped at the end of the model's context \(512 tokens\), before --max-tokens 1000\n\d+ tokens in /);
    }
    const short = await run(['generate', '--model', gguf, '--prompt', 'Once', '--temperature', '0', '--max-tokens', '5']);
    expect(short.stderr).toMatch(/^5 tokens in /);
  });

  test("docs/cli.md's info examples are what info prints (a line ending in … is a prefix: the kernels line names this machine's path)", async () => {
    const cli = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
    const examples = [...cli.matchAll(/^\$ npx ffnkit info (--model \S+)\n((?:(?!\$ |```).*\n)+)/gm)];
    expect(examples.length).toBe(2);
    for (const [, model, shown] of examples) {
      const r = await run(['info', '--model', model!.slice('--model '.length).replace('../shared', SHARED!)]);
      expect(r.code, r.stderr).toBe(0);
      const want = shown!.trimEnd().split('\n');
      const got = r.stdout.trimEnd().split('\n');
      expect(got.length, model).toBe(want.length);
      want.forEach((line, i) => (line.endsWith('…') ? expect(got[i]!.startsWith(line.slice(0, -1)), `${got[i]} / ${line}`).toBe(true) : expect(got[i]).toBe(line)));
    }
  });

  test('--help names every kind of --tokenizer that Tokenizer.load reads', async () => {
    for (const command of ['generate', 'chat', 'eval', 'factorize', 'prune', 'finetune', 'quantize', 'tokenize']) {
      const help = (await run([command, '--help'])).stdout.replace(/\s+/g, ' ');
      expect(help, command).toMatch(/--tokenizer <path> llama2\.c tokenizer\.bin, a GGUF file, a tokenizer\.json or a Hugging Face directory/);
    }
  });
});
