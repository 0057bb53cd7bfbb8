// Optional peer dependencies (ONNX export's onnx-proto): a missing package is an FfnkitError that
// names it and says how to install it; anything else is not disguised as one. (Importing
// ffnkit/onnx in a project without onnx-proto is checked on the installed package by
// scripts/check-package.mjs.)

import { describe, expect, test } from 'vitest';
import { FfnkitError } from '../src/errors.js';
import { importPeer } from '../src/runtime/peer-dependency.js';

const ABSENT = 'ffnkit-absent-peer-package';
const load = (name: string) => () => import(/* @vite-ignore */ name) as Promise<unknown>;

describe('importPeer', () => {
  test('an installed package is returned as imported', async () => {
    const m = await importPeer('onnx-proto', 'ONNX export', () => import('onnx-proto'));
    expect(typeof m.default.onnx.ModelProto.encode).toBe('function');
  });

  test('a missing package is E_UNSUPPORTED naming it, the feature and the install command', async () => {
    const err = await importPeer(ABSENT, 'ONNX export (ffnkit/onnx)', load(ABSENT)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfnkitError);
    expect((err as FfnkitError).code).toBe('E_UNSUPPORTED');
    expect((err as FfnkitError).message).toBe(
      `ONNX export (ffnkit/onnx) needs the package '${ABSENT}', an optional peer dependency of ffnkit that is not installed: npm install ${ABSENT}`,
    );
  });

  test('another package missing (a broken install of the peer) is rethrown as it is', async () => {
    const err = await importPeer('onnx-proto', 'ONNX export', load(ABSENT)).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(FfnkitError);
    expect((err as Error).message).toContain(ABSENT);
  });

  test('a failure that is not a missing module is rethrown as it is', async () => {
    const boom = new TypeError('onnx-proto: broken');
    await expect(importPeer('onnx-proto', 'ONNX export', () => Promise.reject(boom))).rejects.toBe(boom);
  });
});
