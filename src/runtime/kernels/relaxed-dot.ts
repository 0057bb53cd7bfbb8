// Whether the quantized kernels may try relaxed SIMD's integer dot on this engine.
// i32x4.relaxed_dot_i8x16_i7x16_add_s leaves part of its result to the engine, and engines
// differ beyond that: Chromium computes it as the spec says for a second operand in 0..127;
// Node 20's V8 (11.3, behind its flag) does too in its optimizing compiler, but its baseline
// compiler, which runs every function first, returns twice the dot product and ignores the
// accumulator. So the engine is asked once at creation, on inputs whose answers tell the forms
// apart: a form the kernels know (exact, or doubled without the accumulator) lets them take the
// relaxed path, where each call checks which of the two its own code has (assembly/dot.ts);
// anything else keeps them on the i16 path.

import { rng } from '../../rng.js';
import type { Arena } from '../arena.js';

/** What the engine's relaxed dot computed: as specified, Node 20's doubled form, something else, or no relaxed SIMD in this build. */
export type RelaxedDotForm = 'exact' | 'doubled-no-accumulate' | 'other' | 'absent';

/** The integer dot path the quantized kernels run: i16, or relaxed in the form each call finds. */
export type DotPath = 'i16' | 'relaxed';

export interface DotSelfTest {
  /** What the relaxed dot computed here at creation (in whichever compiler tier ran the probe). */
  form: RelaxedDotForm;
  path: DotPath;
  /** The kernels' `dot` argument for this path (assembly/dot.ts: DOT_I16, DOT_RELAXED). */
  code: 0 | 1;
  /** Set when the engine was created with `integerDot: 'i16'`: the i16 path, whatever the form. */
  forced?: true;
}

/** The engine option `integerDot`: the path the self-test allows, or the i16 path always (to compare the two). */
export const INTEGER_DOTS = ['auto', 'i16'] as const;
export type IntegerDot = (typeof INTEGER_DOTS)[number];

/** The self-test's finding with the i16 path forced on it (the form stays what the engine computed). */
export function forceI16(found: DotSelfTest): DotSelfTest {
  return { ...found, path: 'i16', code: 0, forced: true };
}

interface ProbeExports {
  relaxed_dot_probe(a: number, b: number, c: number, out: number): number;
}

/** Cases: a in -127..127 (activations), b in 0..127 (weight values), c any i32. */
function cases(): { a: Int8Array; b: Uint8Array; c: Int32Array }[] {
  const out = [
    // the example that shows Node 20's form: the spec wants [108, 8, 1, 9], Node 20 gives 16s
    { a: new Int8Array(16).fill(1), b: new Uint8Array(16).fill(2), c: Int32Array.from([100, 0, -7, 1]) },
    // the extremes: every pair sum at +-2 * 127 * 127, which a 16-bit pair sum must hold unsaturated
    { a: new Int8Array(16).fill(127), b: new Uint8Array(16).fill(127), c: Int32Array.from([0, 1, -1, 1 << 20]) },
    { a: new Int8Array(16).fill(-127), b: new Uint8Array(16).fill(127), c: Int32Array.from([-5, 0, 3, -(1 << 20)]) },
  ];
  const r = rng(20240229);
  for (let t = 0; t < 64; t++) {
    const a = new Int8Array(16), b = new Uint8Array(16), c = new Int32Array(4);
    for (let i = 0; i < 16; i++) {
      a[i] = Math.floor(r() * 255) - 127;
      b[i] = Math.floor(r() * 128);
    }
    for (let i = 0; i < 4; i++) c[i] = Math.floor(r() * 2_000_001) - 1_000_000;
    out.push({ a, b, c });
  }
  return out;
}

/** Runs the relaxed dot on the test cases and classifies what this engine does. */
export function relaxedDotSelfTest(wasm: ProbeExports, arena: Arena): DotSelfTest {
  const block = arena.alloc(64, 'relaxed dot self-test');
  try {
    let exact = true;
    let doubled = true;
    for (const { a, b, c } of cases()) {
      const u8 = arena.u8();
      u8.set(new Uint8Array(a.buffer), block.ptr);
      u8.set(b, block.ptr + 16);
      u8.set(new Uint8Array(c.buffer), block.ptr + 32);
      if (wasm.relaxed_dot_probe(block.ptr, block.ptr + 16, block.ptr + 32, block.ptr + 48) !== 1) return { form: 'absent', path: 'i16', code: 0 };
      const got = new Int32Array(arena.memory.buffer, block.ptr + 48, 4);
      for (let l = 0; l < 4; l++) {
        let dot = 0;
        for (let j = 4 * l; j < 4 * l + 4; j++) dot += a[j]! * b[j]!;
        if (got[l] !== dot + c[l]!) exact = false;
        if (got[l] !== 2 * dot) doubled = false;
      }
    }
    if (exact) return { form: 'exact', path: 'relaxed', code: 1 };
    if (doubled) return { form: 'doubled-no-accumulate', path: 'relaxed', code: 1 };
    return { form: 'other', path: 'i16', code: 0 };
  } finally {
    arena.free(block);
  }
}
