// `npm test` runs the browser tests when Debian's Chromium is installed, and says so when not.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('/usr/bin/chromium')) {
  console.warn('SKIPPING browser tests: /usr/bin/chromium not found (apt-get install -y chromium; .ci/run does it)');
  process.exit(0);
}
const r = spawnSync('npm', ['run', 'test:browser'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
