// Optional peer dependencies: a feature that needs another package (ONNX export needs
// onnx-proto) imports it through here, so that a project without it gets an FfnkitError naming
// the package to install instead of a module-resolution stack trace.

import { FfnkitError } from '../errors.js';

/**
 * Runs `load` (a literal `() => import('name')`, so that bundlers see the specifier) and returns
 * the module; when the package `name` itself cannot be found, throws E_UNSUPPORTED saying that
 * `feature` needs it. Any other failure (a broken install, a missing file inside it) is rethrown.
 */
export async function importPeer<T>(name: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (isMissingPackage(e, name)) {
      throw new FfnkitError('E_UNSUPPORTED', `${feature} needs the package '${name}', an optional peer dependency of ffnkit that is not installed: npm install ${name}`);
    }
    throw e;
  }
}

/** Node's "Cannot find package 'name'" (and CommonJS's "Cannot find module 'name'"), for this package. */
function isMissingPackage(e: unknown, name: string): boolean {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return typeof message === 'string' && (message.includes(`package '${name}'`) || message.includes(`module '${name}'`));
}
