// Argument checks run in TypeScript before any pointer reaches wasm: a kernel that received a
// wrong size would read or write out of bounds silently, so every wrapper calls these first.

import { FfnkitError } from '../errors.js';
import type { Arena } from './arena.js';
import { F32Buffer } from './buffer.js';

const MAX_I32 = 0x7fffffff;

/** A size: an integer in [min, 2^31 - 1]. */
export function checkSize(name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_I32) {
    throw new FfnkitError('E_ARG', `${name}: expected an integer >= ${min}, found ${String(v)}`);
  }
  return v;
}

/** A finite number (a scale, an epsilon). */
export function checkFinite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new FfnkitError('E_ARG', `${name}: expected a finite number, found ${String(v)}`);
  }
  return v;
}

/** A live buffer of this arena, of exactly `length` floats when a length is given. */
export function checkBuffer(arena: Arena, name: string, b: unknown, length?: number): F32Buffer {
  if (!(b instanceof F32Buffer)) {
    throw new FfnkitError('E_ARG', `${name}: expected an F32Buffer from engine.alloc or engine.upload, found ${describe(b)}`);
  }
  if (b.arena !== arena) {
    throw new FfnkitError('E_ARG', `${name}: buffer belongs to another engine's memory`);
  }
  if (!arena.owns(b.block)) {
    throw new FfnkitError('E_ARG', `${name}: buffer was freed`);
  }
  if (length !== undefined && b.length !== length) {
    throw new FfnkitError('E_SHAPE', `${name}: expected ${length} floats, found ${b.length}`);
  }
  return b;
}

function overlaps(a: F32Buffer, b: F32Buffer): boolean {
  if (a.length === 0 || b.length === 0) return false;
  return a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

/** `out` may not share any float with `input`. */
export function checkDisjoint(outName: string, out: F32Buffer, inName: string, input: F32Buffer | undefined): void {
  if (input && overlaps(out, input)) {
    throw new FfnkitError('E_ARG', `${outName} overlaps ${inName}; the kernel needs them apart`);
  }
}

/** `out` is either exactly `input` (in place) or apart from it; a partial overlap is an error. */
export function checkSameOrDisjoint(outName: string, out: F32Buffer, inName: string, input: F32Buffer): void {
  if (out.ptr === input.ptr && out.length === input.length) return;
  if (overlaps(out, input)) {
    throw new FfnkitError('E_ARG', `${outName} partly overlaps ${inName}; pass the same buffer (in place) or separate ones`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
