// ffnkit for Node: everything of the browser entry, plus local files (the package's own .wasm
// builds, models, tokenizers, texts) through node:fs. Importing this module installs that access.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setLocalFiles } from '../runtime/io.js';

setLocalFiles({
  read: async (path) => new Uint8Array(await readFile(path)),
  isDirectory: async (path) => (await stat(path)).isDirectory(),
  join,
});

export * from '../index.js';
