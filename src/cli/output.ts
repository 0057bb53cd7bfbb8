// What the commands print to stdout goes through `out`, so a stdout that fails is handled in one
// place. A reader that went away (EPIPE: `ffnkit generate | head -c 20`) ends the run quietly with
// exit 0, as Unix tools do: the output was wanted up to there. Any other write error (ENOSPC:
// `> /dev/full`) is an `ffnkit: stdout: ...` error with exit 1: output was lost.
//
// Node reports a failed write to stdout as an 'error' event on a later tick, not as a throw (and,
// with no listener, dies with a stack trace). A write that fails at once (a file; a pipe whose
// reader has gone) marks the stream `errored` before write() returns, so `out` raises it there
// and a generation stops at that token; one that fails later (a pipe that was full) arrives as
// the event, and is raised by the next `out` or by `flushStdout` once the command is done.

import { FfnkitError } from '../node/index.js';

/** Raised once stdout's reader has gone: the end of the run, not an error. */
export class StdoutClosed extends Error {
  constructor() {
    super('stdout: the reader has gone (EPIPE)');
    this.name = 'StdoutClosed';
  }
}

let failure: NodeJS.ErrnoException | undefined;
let watching = false;

/** Records stdout's first write error instead of letting Node die of it; stderr's are dropped (nowhere left to say them). */
export function watchStdout(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    failure ??= e;
  });
  process.stderr.on('error', () => {});
}

/** Writes `text` to stdout; throws once an earlier write has failed. */
export function out(text: string): void {
  raiseFailure();
  process.stdout.write(text);
  raiseFailure();
}

/** Waits until everything written has reached stdout or failed, then throws as `out` does. */
export async function flushStdout(): Promise<void> {
  // only writes still queued can fail later (a file or a Linux pipe writes at once: nothing queues)
  if (!failure && process.stdout.writableLength > 0) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  raiseFailure();
}

function raiseFailure(): void {
  failure ??= (process.stdout.errored as NodeJS.ErrnoException | null) ?? undefined;
  if (!failure) return;
  if (failure.code === 'EPIPE') throw new StdoutClosed();
  throw new FfnkitError('E_ARG', `stdout: cannot write (${failure.message})`);
}
