// Checking option objects at the API boundary: a misspelt key (`maxToken`) or a value of the wrong
// type is an FfnkitError naming the key, not an option silently ignored. Ranges are checked
// where the values are used (sampler, generation loop). Below every folder: the text layer's
// renderer checks its options too.

import { FfnkitError } from './errors.js';

/** The type an option's value must have. `strings`: a string or an array of strings. */
export type OptionKind = 'number' | 'integer' | 'boolean' | 'boolean|number' | 'string' | 'strings' | 'string|object' | 'function' | 'object' | 'signal';

export type OptionKinds = Readonly<Record<string, OptionKind>>;

/** Throws E_ARG on a key not in `kinds` or a value not of its kind (undefined passes: the default applies). */
export function checkOptions(options: unknown, kinds: OptionKinds, what: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new FfnkitError('E_ARG', `${what}: expected an options object, found ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const [key, value] of Object.entries(options)) {
    const kind = kinds[key];
    if (kind === undefined) {
      const near = closest(key, Object.keys(kinds));
      throw new FfnkitError('E_ARG', `${what}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}`);
    }
    if (value !== undefined && !fits(value, kind)) {
      throw new FfnkitError('E_ARG', `${what}: option '${key}' must be ${DESCRIPTION[kind]}, found ${describeValue(value)}`);
    }
  }
}

const DESCRIPTION: Record<OptionKind, string> = {
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  'boolean|number': 'true, false or a number',
  string: 'a string',
  strings: 'a string or an array of strings',
  'string|object': 'a string or an object',
  function: 'a function',
  object: 'an object',
  signal: 'an AbortSignal',
};

function fits(v: unknown, kind: OptionKind): boolean {
  switch (kind) {
    case 'number':
      return typeof v === 'number' && !Number.isNaN(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'boolean|number':
      return typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));
    case 'string':
      return typeof v === 'string';
    case 'strings':
      return typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
    case 'string|object':
      return typeof v === 'string' || (typeof v === 'object' && v !== null);
    case 'function':
      return typeof v === 'function';
    case 'object':
      return typeof v === 'object' && v !== null;
    case 'signal':
      return typeof v === 'object' && v !== null && typeof (v as AbortSignal).aborted === 'boolean' && typeof (v as AbortSignal).addEventListener === 'function';
  }
}

/** A value as error messages show it: null, an array, a string quoted (and cut at 40), a number, or its type. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

/** The known key within edit distance 2 of `key`, if any (the nearest). */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

