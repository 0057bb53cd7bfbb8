// --kv-cache on the command line, run as a user runs it: `logits --kv-cache f16-flash` holds the
// conformance contract on the fixture whose argmax the f32 cache misses twice (Q6_K), `info`
// shows the cache and its bytes, generate and eval say which cache ran, and a bad value is bad
// usage naming the flag on every command that takes it.

import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { againstReference } from './llamacpp.js';
import { SHARED, sharedJson, sharedPath } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000, env: FROM_SOURCES, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!SHARED)('--kv-cache', () => {
  const q6k = sharedPath('models', 'fixtures', 'fixture-llama-q6_k.gguf');
  const stories = sharedPath('models', 'stories260K.gguf');

  test('logits --kv-cache: f16-flash gives llama.cpp\'s argmax at every position of the Q6_K fixture, where f32 misses two', async () => {
    const g = sharedJson<Record<string, { tokens: number[]; logits: number[][] }>>('golden', 'llamacpp-fixtures.json')['fixture-llama-q6_k.gguf']!;
    const theirs = g.logits.map((r) => Float32Array.from(r));
    const measure = async (cache: string) => {
      const r = await run(['logits', '--model', q6k, '--ids', g.tokens.join(','), '--json', '--kv-cache', cache]);
      expect(r.code, r.stderr).toBe(0);
      return againstReference((JSON.parse(r.stdout) as { logits: number[][] }).logits.map((row) => Float32Array.from(row)), theirs);
    };
    const flash = await measure('f16-flash');
    expect(flash.argmaxMisses).toBe(0);
    expect(flash.maxDiffOverStd).toBeLessThanOrEqual(0.15);
    expect((await measure('f32')).argmaxMisses).toBe(2);
  });

  test('info --kv-cache shows the cache and its bytes: halves take half', async () => {
    const json = async (cache: string) => {
      const r = await run(['info', '--model', q6k, '--json', '--kv-cache', cache]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { kvCache: string; kvCacheBytes: number; wasmBytes: number };
    };
    const [f32, f16] = [await json('f32'), await json('f16')];
    expect([f32.kvCache, f16.kvCache]).toEqual(['f32', 'f16']);
    expect(f16.kvCacheBytes).toBe(f32.kvCacheBytes / 2);
    expect(f32.wasmBytes - f16.wasmBytes).toBe(f32.kvCacheBytes / 2);
    const text = await run(['info', '--model', q6k, '--kv-cache', 'f16-flash']);
    expect(text.stdout).toMatch(/kv cache {6}f16-flash, 0\.25 MiB for the context of 256 \(f32: 0\.50 MiB, f16: 0\.25 MiB; --kv-cache\)/);
  });

  test('generate and eval say which cache ran', async () => {
    const g = await run(['generate', '--model', stories, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '8', '--kv-cache', 'f16']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toMatch(/kv cache f16, seed/);
    const e = await run(['eval', '--model', stories, '--text', sharedPath('data', 'tinystories-eval.txt'), '--kv-cache', 'f16-flash']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/kv cache f16-flash\)/);
  });

  test.each([
    ['generate', '--prompt', 'Once'],
    ['chat'],
    ['logits', '--ids', '1,2'],
    ['eval', '--text', 'nowhere.txt'],
    ['info'],
  ])('%s --kv-cache f8: bad usage (exit 2, as for every option with choices) naming the flag and the values it takes', async (command, ...rest) => {
    const r = await run([command, '--model', q6k, ...rest, '--kv-cache', 'f8']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: option '--kv-cache <type>' argument 'f8' is invalid. Allowed choices are f32, f16, f16-flash.");
  });
});
