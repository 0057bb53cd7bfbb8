// The engine option integerDot: 'i16' forces the quantized kernels' i16 dot path on an engine
// whose self-test allows the relaxed one (here: Node's V8 with relaxed SIMD, as vitest runs it).
// Integer sums are exact on both paths, so a model's logits must be the same bits either way;
// the engine, `ffnkit info`, `generate` and `eval` must say the path is forced; anything but 'auto' or 'i16'
// is refused (the engine option, and the --integer-dot flag).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { createEngine, loadModel, type EngineOptions } from '../src/node/index.js';
import { main } from '../src/cli/main.js';
import { SHARED, sharedJson, sharedPath } from './shared.js';

interface KernelForm {
  relaxed_dot_form(dot: number): number;
}

describe('integerDot', () => {
  test("'i16' forces the i16 path on a relaxed engine and keeps the form the self-test found", async () => {
    const auto = await createEngine({ backend: 'relaxed' });
    const i16 = await createEngine({ backend: 'relaxed', integerDot: 'i16' });
    // without this the comparisons below would compare the i16 path with itself
    expect(auto.dot.path).toBe('relaxed');
    expect(auto.dot.forced).toBeUndefined();
    expect(i16.dot).toEqual({ ...auto.dot, path: 'i16', code: 0, forced: true });
    // what the kernels do with the code: the relaxed form (1 exact, 2 doubled) or the i16 path (0)
    expect([1, 2]).toContain((auto.wasm as unknown as KernelForm).relaxed_dot_form(auto.dot.code));
    expect((i16.wasm as unknown as KernelForm).relaxed_dot_form(i16.dot.code)).toBe(0);
    expect((await createEngine({ backend: 'relaxed', integerDot: 'auto' })).dot).toEqual(auto.dot);
    // on a build without relaxed SIMD the path was i16 already; forcing it says so all the same
    expect((await createEngine({ backend: 'simd', integerDot: 'i16' })).dot).toMatchObject({ form: 'absent', path: 'i16', code: 0, forced: true });
  });

  test('anything but auto or i16 is an E_ARG error naming the option', async () => {
    for (const bad of ['relaxed', 'I16', '', 16, {}]) {
      await expect(createEngine({ integerDot: bad as never })).rejects.toMatchObject({ code: 'E_ARG', message: /^integerDot: expected 'auto' or 'i16', found / });
    }
    await expect(loadModel(sharedPath('models', 'stories260K.gguf'), { integerDot: 'fast' as never })).rejects.toMatchObject({ code: 'E_ARG', message: /integerDot/ });
  });
});

describe.skipIf(!SHARED)('integerDot on whole models', () => {
  const golden = sharedJson<Record<string, { tokens: number[] }>>('golden', 'llamacpp-fixtures.json');

  /** Prefill logits of the fixture's ids, then two decode steps, as raw bits. */
  async function bits(file: string, options: EngineOptions): Promise<{ path: string; bits: Uint32Array[] }> {
    const model = await loadModel(sharedPath('models', 'fixtures', file), options);
    try {
      const tokens = golden[file]!.tokens;
      const out = [Float32Array.from(model.forward(tokens, { allLogits: true }))];
      for (const id of [tokens[1]!, tokens[2]!]) out.push(Float32Array.from(model.forward([id])));
      return { path: model.engine.dot.path, bits: out.map((a) => new Uint32Array(a.buffer)) };
    } finally {
      model.engine.close();
    }
  }

  // Q4_K_M mixes Q4_K and Q6_K; Q4_0 and Q8_0 have kernels of their own
  test.each(['fixture-llama-q4_k_m.gguf', 'fixture-llama-q4_0.gguf', 'fixture-llama-q5_k_m.gguf', 'fixture-llama-q6_k.gguf', 'fixture-llama-q8_0.gguf'])('%s: the same logits, bit for bit, on both paths', async (file) => {
    const auto = await bits(file, { backend: 'relaxed' });
    const i16 = await bits(file, { backend: 'relaxed', integerDot: 'i16' });
    expect([auto.path, i16.path]).toEqual(['relaxed', 'i16']);
    expect(i16.bits).toEqual(auto.bits);
  });

  test('and on two threads (the workers run the path the main thread chose)', async () => {
    const auto = await bits('fixture-llama-q4_k_m.gguf', { backend: 'relaxed' });
    const i16 = await bits('fixture-llama-q4_k_m.gguf', { backend: 'relaxed', integerDot: 'i16', threads: 2 });
    expect(i16.path).toBe('i16');
    expect(i16.bits).toEqual(auto.bits);
  });
});

/** Runs the CLI in this process: exit code and what it wrote. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await main(['node', 'ffnkit', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe.skipIf(!SHARED)('--integer-dot', () => {
  const q4km = sharedPath('models', 'fixtures', 'fixture-llama-q4_k_m.gguf');

  test('info says which path runs and that it is forced', async () => {
    const json = async (...more: string[]) => {
      const r = await cli(['info', '--model', q4km, '--json', '--backend', 'relaxed', ...more]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { dot: string; dotForm: string; dotForced?: boolean };
    };
    const [auto, i16] = [await json(), await json('--integer-dot', 'i16')];
    expect(auto.dot).toBe('relaxed');
    expect(auto.dotForced).toBeUndefined();
    expect(i16).toMatchObject({ dot: 'i16', dotForm: auto.dotForm, dotForced: true });
    const text = await cli(['info', '--model', q4km, '--backend', 'relaxed', '--integer-dot', 'i16']);
    expect(text.stdout).toContain(`kernels       relaxed build, i16 integer dot (forced by --integer-dot i16; the relaxed dot's form here: ${auto.dotForm})`);
  });

  test('generate and eval say the path is forced', async () => {
    const g = await cli(['generate', '--model', q4km, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '4', '--integer-dot', 'i16']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toMatch(/backend \w+, i16 integer dot \(forced by --integer-dot i16[;)]/);
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-integer-dot-'));
    try {
      writeFileSync(join(dir, 'text.txt'), 'Once upon a time there was a little girl.\n');
      const e = await cli(['eval', '--model', q4km, '--text', join(dir, 'text.txt'), '--integer-dot', 'i16']);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toMatch(/i16 integer dot \(forced by --integer-dot i16[;)]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('logits are the same on both paths; a bad value names the flag', async () => {
    const ids = sharedJson<Record<string, { tokens: number[] }>>('golden', 'llamacpp-fixtures.json')['fixture-llama-q4_k_m.gguf']!.tokens.join(',');
    const logits = async (...more: string[]) => {
      const r = await cli(['logits', '--model', q4km, '--ids', ids, '--json', ...more]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(await logits('--integer-dot', 'i16')).toBe(await logits('--integer-dot', 'auto'));
    for (const command of [['info'], ['logits', '--ids', ids], ['generate', '--prompt', 'x']]) {
      const r = await cli([...command, '--model', q4km, '--integer-dot', 'fast']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/--integer-dot.*'fast'.*Allowed choices are auto, i16/);
    }
  });
});
