// ffnkit for Node: everything of the browser entry, plus local files (the package's own .wasm
// builds, models, tokenizers, texts) through node:fs. Importing this module installs that access.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setLocalFiles } from '../runtime/io.js';
import { readWholeFile } from './read-file.js';
import './threads.js';

setLocalFiles({
  read: (path) => readWholeFile(path),
  isDirectory: async (path) => (await stat(path)).isDirectory(),
  join,
});

export * from '../index.js';
// ONNX export needs the onnx-proto package, which a page without a bundler cannot import, so it
// is part of the Node entry only (bundled browser apps may import src/mixer/onnx-export.ts).
export { toOnnx } from '../mixer/onnx-export.js';
export { timeSeriesToOnnx } from '../mixer/timeseries-onnx.js';
