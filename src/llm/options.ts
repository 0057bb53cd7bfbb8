// The options of a model: the KV cache's kinds, on top of the generic checks (src/options.ts).

import { FfnkitError } from '../errors.js';
import { describeValue } from '../options.js';
import { KV_CACHES, type KvCache } from '../runtime/kernels.js';

export { checkOptions, describeValue, type OptionKind, type OptionKinds } from '../options.js';

/** The KV cache an option names ('f32', 'f16', 'f16-flash'); E_ARG naming `what` (`kvCache`, `--kv-cache`) for anything else. */
export function parseKvCache(value: unknown, what: string): KvCache {
  if (typeof value === 'string' && (KV_CACHES as readonly string[]).includes(value)) return value as KvCache;
  throw new FfnkitError('E_ARG', `${what}: expected ${KV_CACHES.map((c) => `'${c}'`).join(', ')}, found ${describeValue(value)}`);
}
