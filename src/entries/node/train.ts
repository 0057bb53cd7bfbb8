// ffnkit/train in Node (the package's `node` export condition): the same exports as ../train.ts,
// with local files and worker threads installed.

import '../../node/setup.js';

export * from '../train.js';
