// Getting bytes from wherever the user has them: an ArrayBuffer, a typed array, a fetch Response,
// a Blob/File, a URL, or (in Node, through `ffnkit/node`) a local path. Browser-safe: local files
// are reached only through the functions `src/node/` installs.

import { FfnkitError } from '../errors.js';

/** Something bytes can be read from. */
export type ByteSource = string | URL | Uint8Array | ArrayBuffer | Response | Blob;

/** Local file access, installed by `ffnkit/node`. */
export interface LocalFiles {
  read(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
  isDirectory(path: string): Promise<boolean>;
  /** Whether anything is at `path` (false only when nothing is: other failures throw). */
  exists(path: string): Promise<boolean>;
  join(dir: string, name: string): string;
}

let local: LocalFiles | undefined;

/** Installs local file access (called by `src/node/`, which may import `node:fs`). */
export function setLocalFiles(files: LocalFiles): void {
  local = files;
}

/** The local file access, if this runtime has one. */
export function localFiles(): LocalFiles | undefined {
  return local;
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/** A readable name for a source, for error messages. */
export function sourceName(source: ByteSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return (source as { name?: string }).name ?? 'blob';
  if (typeof Response !== 'undefined' && source instanceof Response) return source.url || 'response';
  return 'bytes';
}

/** Reads all bytes of `source`. `what` names it in errors (e.g. 'model'). */
export async function readBytes(source: ByteSource, what: string): Promise<Uint8Array<ArrayBuffer>> {
  if (source instanceof Uint8Array) return source.buffer instanceof ArrayBuffer ? (source as Uint8Array<ArrayBuffer>) : new Uint8Array(source);
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new FfnkitError('E_ARG', `${what}: the response for ${sourceName(source)} is HTTP ${source.status}${source.statusText ? ` ${source.statusText}` : ''}, not the file`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof source === 'string' || source instanceof URL) {
    const isFileUrl = source instanceof URL ? source.protocol === 'file:' : source.startsWith('file:');
    const isRemote = !isFileUrl && (source instanceof URL || SCHEME.test(source));
    if (!isRemote && local) {
      try {
        return await local.read(source);
      } catch (e) {
        const code = e instanceof FfnkitError ? e.code : 'E_ARG';
        throw new FfnkitError(code, `${what}: cannot read ${sourceName(source)} (${(e as Error).message})`);
      }
    }
    if (isFileUrl) throw new FfnkitError('E_UNSUPPORTED', `${what}: cannot read ${sourceName(source)} here: import 'ffnkit/node' (Node) to read local files`);
    let res: Response;
    try {
      res = await fetch(source);
    } catch (e) {
      // fetch's own message ("fetch failed", "Failed to fetch") names neither the URL nor the cause
      const cause = (e as { cause?: { message?: string; code?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new FfnkitError('E_ARG', `${what}: cannot fetch ${sourceName(source)} (${detail})`);
    }
    if (!res.ok) throw new FfnkitError('E_ARG', `${what}: fetching ${sourceName(source)} gave HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  throw new FfnkitError('E_ARG', `${what}: expected a path, URL, ArrayBuffer, Uint8Array, Response or Blob`);
}
