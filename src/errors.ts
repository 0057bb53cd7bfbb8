/**
 * The one error class of ffnkit. `code` says what kind of problem it is; the message names the
 * file, tensor or argument and the expected versus found value.
 *
 * - `E_FORMAT`: bad bytes in a file
 * - `E_SHAPE`: sizes that do not fit together
 * - `E_ARG`: a bad argument (wrong type, negative size, freed or foreign buffer, overlap)
 * - `E_MEMORY`: would not fit in wasm32's 4 GiB
 * - `E_UNSUPPORTED`: valid input that ffnkit does not handle (yet), or a backend this engine lacks
 * - `E_BUSY`: the model is running another generation (one at a time per model)
 * - `E_THREAD`: a worker thread did not answer in time (it did not start, or did not finish its
 *   part of a kernel call); the engine's pool is closed and it runs one thread
 * - `E_NUMERIC`: a computation gave NaN or an infinity where a number was needed (a model's
 *   logits: its weights hold one, or its activations overflowed), so nothing is made of it
 */
export type ErrorCode = 'E_FORMAT' | 'E_SHAPE' | 'E_ARG' | 'E_MEMORY' | 'E_UNSUPPORTED' | 'E_BUSY' | 'E_THREAD' | 'E_NUMERIC';

export class FfnkitError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'FfnkitError';
    this.code = code;
  }
}
