// Local files are read in chunks into one buffer (fs.readFile stops at 2 GiB; a Q8_0 model that
// wasm32 can hold may be larger): any chunk size gives the file's bytes exactly.

import { readFileSync } from 'node:fs';
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
