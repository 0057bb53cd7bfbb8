// ffnkit for Node: everything of the browser entry, plus reading `file:` URLs (the package's own
// .wasm builds, local models) with node:fs. Importing this module installs that reader.

import { readFile } from 'node:fs/promises';
import { setLocalReader } from '../runtime/wasm.js';

setLocalReader(async (url) => new Uint8Array(await readFile(url)));

export * from '../index.js';
