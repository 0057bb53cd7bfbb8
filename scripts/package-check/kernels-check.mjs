// Part (b) of scripts/check-package.mjs: a subpath imported alone in Node (its `node` condition
// installs file access and worker threads by itself): an engine on two threads scales a vector.

import assert from 'node:assert/strict';
import { createEngine } from 'ffnkit/kernels';

const engine = await createEngine({ threads: 2 });
assert.equal(engine.threads, 2, `ffnkit/kernels alone: the engine runs ${engine.threads} thread(s), asked for 2`);
const x = engine.upload([1, -2, 3.5]);
const y = engine.alloc(3);
engine.kernels.scale(x, 2, y);
assert.deepEqual([...y.toArray()], [2, -4, 7]);
engine.close();
