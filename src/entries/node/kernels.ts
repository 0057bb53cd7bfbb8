// ffnkit/kernels in Node (the package's `node` export condition): the same exports as ../kernels.ts,
// with local files and worker threads installed.

import '../../node/setup.js';

export * from '../kernels.js';
