// Reading a whole local file into one Uint8Array. fs.readFile refuses files over 2 GiB, while a
// model in Q8_0 that wasm32 can hold may be larger (up to nearly 4 GiB), so the file is read in
// chunks into a buffer of its size.

import { open } from 'node:fs/promises';
import { FfnkitError } from '../errors.js';

/** The bytes of the file at `path`, read `chunk` bytes at a time (1 GiB by default). */
export async function readWholeFile(path: string | URL, chunk = 1 << 30): Promise<Uint8Array<ArrayBuffer>> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    // a typed array holds at most 4 GiB here, as much as wasm32 memory: no model past it can run
    if (size > 2 ** 32) throw new FfnkitError('E_MEMORY', `${size} bytes is more than the 4 GiB a buffer (and wasm32 memory) can hold`);
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await file.read(bytes, at, Math.min(chunk, size - at), at);
      if (bytesRead === 0) throw new Error(`the file ended at byte ${at} of ${size}`);
      at += bytesRead;
    }
    return bytes;
  } finally {
    await file.close();
  }
}
