// `bench kernels --only`: a ggml type in either case runs that type's lines, anything else is
// refused before any work, not read as "everything".

import { describe, expect, test } from 'vitest';
import { FfnkitError } from '../src/node/index.js';
import { runKernels } from '../bench/kernels.js';

describe('bench kernels --only', () => {
  test('an unknown value is an E_ARG naming it and the accepted types', async () => {
    const err = await runKernels({ only: 'Q9_X', quick: true, report: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfnkitError);
    expect((err as FfnkitError).code).toBe('E_ARG');
    expect((err as FfnkitError).message).toMatch(/^--only Q9_X: bench kernels takes q8_0, or one of the ggml types q4_k, q6_k/);
  });
});
