// ffnkit/mixer in Node (the package's `node` export condition): the same exports as ../mixer.ts,
// with local files and worker threads installed.

import '../../node/setup.js';

export * from '../mixer.js';
