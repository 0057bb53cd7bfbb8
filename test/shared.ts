// Where ../shared is (FFNKIT_SHARED, else ../shared beside the repository), and a visible skip
// when it is absent: tests read the model, texts and golden outputs in place.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The shared folder, or undefined (with a warning) when it is not there. */
export const SHARED: string | undefined = (() => {
  const dir = process.env.FFNKIT_SHARED ?? join(root, '..', 'shared');
  if (existsSync(join(dir, 'models', 'stories260K.bin'))) return dir;
  console.warn(`SKIPPING model tests: ../shared not found at ${dir} (set FFNKIT_SHARED)`);
  return undefined;
})();

export function sharedPath(...parts: string[]): string {
  return join(SHARED ?? '', ...parts);
}

export function sharedBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(sharedPath(...parts)));
}

export function sharedJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(sharedPath(...parts), 'utf8')) as T;
}

export function sharedText(...parts: string[]): string {
  return readFileSync(sharedPath(...parts), 'utf8');
}
