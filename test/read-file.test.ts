// Local files are read in chunks into one buffer (fs.readFile stops at 2 GiB; a Q8_0 model that
// wasm32 can hold may be larger): any chunk size gives the file's bytes exactly, and a file past
// what a buffer (and wasm32) can hold is refused before anything is allocated.

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { readWholeFile } from '../src/node/read-file.js';
import { loadModel } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ffnkit-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.each([1, 7, 4096, 1 << 30])('chunks of %i bytes give the file exactly', async (chunk) => {
  const path = join(dir, 'bytes.bin');
  const want = Uint8Array.from({ length: 10007 }, (_, i) => (i * 131 + 7) & 255);
  writeFileSync(path, want);
  expect(Array.from(await readWholeFile(path, chunk))).toEqual(Array.from(want));
});

test('a file past 4 GiB is refused before anything is allocated (E_MEMORY, naming the file)', async () => {
  const path = join(dir, 'huge.gguf');
  writeFileSync(path, '');
  truncateSync(path, 2 ** 32 + 1); // sparse: no disk space used
  await expect(loadModel(path)).rejects.toMatchObject({ code: 'E_MEMORY', message: expect.stringMatching(/huge\.gguf \(4294967297 bytes is more than the 4 GiB/) });
});
