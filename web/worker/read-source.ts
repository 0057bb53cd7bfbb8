// Reading a dropped file or a URL into one buffer, reporting bytes as they arrive (the page's
// progress bar). An HTTP error is the library's own FfnkitError, naming the URL and the status.

import { readBytes } from '../../src/index.js';
import type { Source } from '../protocol.js';

/** The file name or the URL, for the model card and error messages. */
export function sourceLabel(source: Source): string {
  return source.kind === 'file' ? source.file.name : source.url;
}

/** All bytes of `source`; `onBytes(read, total)` after each chunk (total 0 when the server does not say). */
export async function readSource(source: Source, what: string, onBytes: (read: number, total: number) => void): Promise<Uint8Array> {
  let body: ReadableStream<Uint8Array> | null;
  let total: number;
  if (source.kind === 'file') {
    body = source.file.stream();
    total = source.file.size;
  } else {
    const response = await fetch(source.url).catch(() => undefined);
    // a failed fetch or an HTTP error: readBytes words it (the URL, and the status or the cause)
    if (!response || !response.ok) return readBytes(response ?? source.url, what);
    body = response.body;
    total = Number(response.headers.get('Content-Length') ?? 0);
    if (!body) return readBytes(response, what);
  }
  // one buffer of the announced size when it is known, grown by doubling when it is not (or is wrong)
  let out = new Uint8Array(total > 0 ? total : 1 << 20);
  let read = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (read + value.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, read + value.length));
      grown.set(out.subarray(0, read));
      out = grown;
    }
    out.set(value, read);
    read += value.length;
    onBytes(read, Math.max(total, read));
  }
  onBytes(read, read);
  return read === out.length ? out : out.slice(0, read);
}
