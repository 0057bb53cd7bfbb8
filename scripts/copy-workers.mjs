// The worker scripts are plain JavaScript that tsc does not emit: copy them beside the compiled
// modules that start them (dist/node/threads.js, dist/runtime/threads.js).
import { copyFileSync } from 'node:fs';

for (const f of ['node/thread-worker.js', 'runtime/thread-worker-web.js', 'runtime/thread-loop.js']) copyFileSync(`src/${f}`, `dist/${f}`);
