// Node's access for the browser-safe library: local files (the package's own .wasm builds,
// models, tokenizers, texts) through node:fs, and worker_threads for thread pools. Every Node
// entry (`ffnkit` and `ffnkit/node`, and the Node variants of the subpaths) imports this module.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setLocalFiles } from '../runtime/io.js';
import { readWholeFile } from './read-file.js';
import './threads.js';

setLocalFiles({
  read: (path) => readWholeFile(path),
  isDirectory: async (path) => (await stat(path)).isDirectory(),
  exists: (path) => stat(path).then(() => true, (e: { code?: string }) => {
    if (e.code === 'ENOENT') return false;
    throw e;
  }),
  join,
});
