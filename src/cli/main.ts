// The command line: one file per command; this one wires them into commander and maps errors
// to exit codes (1 for an FfnkitError or failure, printed without a stack; 2 for bad usage).

import { Command, CommanderError } from 'commander';
import { FfnkitError } from '../node/index.js';
import { evalCommand } from './eval.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { factorizeCommand } from './factorize.js';
import { quantizeCommand } from './quantize.js';
import { finetuneCommand } from './finetune.js';
import { logitsCommand } from './logits.js';

/** Runs the command line; `extra` are commands that exist only in a checkout (bench). */
export async function main(argv: string[], extra: Command[] = []): Promise<number> {
  const program = new Command('ffnkit')
    .description('Fast feed-forward networks on any CPU, in WebAssembly SIMD')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const command of [generateCommand(), evalCommand(), factorizeCommand(), finetuneCommand(), quantizeCommand(), infoCommand(), logitsCommand(), ...extra]) {
    // pre-built commands do not inherit exitOverride: without it they would exit(1) on bad usage
    command.copyInheritedSettings(program);
    program.addCommand(command);
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version "errors" are normal exits; anything else is bad usage
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof FfnkitError) {
      process.stderr.write(`ffnkit: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`ffnkit: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
