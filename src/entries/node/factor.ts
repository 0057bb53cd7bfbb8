// ffnkit/factor in Node (the package's `node` export condition): the same exports as ../factor.ts,
// with local files and worker threads installed.

import '../../node/setup.js';

export * from '../factor.js';
