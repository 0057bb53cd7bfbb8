// ffnkit for Node: everything of the browser entry, with local files and worker threads
// installed (./setup.ts). The package's `node` export condition gives Node this module.

import './setup.js';

export * from '../index.js';
