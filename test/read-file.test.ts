// Local files are read in chunks into one buffer (fs.readFile stops at 2 GiB; a Q8_0 model that
// wasm32 can hold may be larger): any chunk size gives the file's bytes exactly.

import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readWholeFile } from '../src/node/read-file.js';
import { loadModel } from '../src/node/index.js';
import { SHARED, sharedPath } from './shared.js';

describe.skipIf(!SHARED)('reading local files', () => {
  test.each([1, 7, 4096, 1 << 30])('chunks of %i bytes give the file exactly', async (chunk) => {
    const path = sharedPath('models', 'tok512.bin');
    const got = await readWholeFile(path, chunk);
    expect(Buffer.from(got).equals(readFileSync(path))).toBe(true);
  });
});

test('a missing model file is an error naming it', async () => {
  await expect(loadModel('/nonexistent/model.gguf')).rejects.toThrow(/model: cannot read \/nonexistent\/model\.gguf/);
});

test('a file past 4 GiB is refused before anything is allocated (E_MEMORY, naming the file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-big-'));
  const path = join(dir, 'huge.gguf');
  try {
    writeFileSync(path, '');
    truncateSync(path, 2 ** 32 + 1); // sparse: no disk space used
    await expect(loadModel(path)).rejects.toMatchObject({ code: 'E_MEMORY', message: expect.stringMatching(/huge\.gguf \(4294967297 bytes is more than the 4 GiB/) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
