// A copy of a GGUF model whose last 4 KB of tensor data are NaN (the classifier's rows, for
// stories260K, whose tied embedding is its last tensor): a model every logit of which is NaN.

/** `gguf` with its last 4096 bytes set to float32 NaN. */
export function nanModel(gguf: Uint8Array): Uint8Array {
  const bytes = gguf.slice();
  const tail = new DataView(bytes.buffer, bytes.length - 4096, 4096);
  for (let i = 0; i < 4096; i += 4) tail.setFloat32(i, NaN, true);
  return bytes;
}
