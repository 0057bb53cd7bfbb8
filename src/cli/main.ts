// The command line: one file per command; this one wires them into commander and maps errors
// to exit codes (1 for an FfnkitError or failure, printed without a stack; 2 for bad usage; 0
// when stdout's reader went away, see output.ts).

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { FfnkitError } from '../node/index.js';
import { StdoutClosed, flushStdout, watchStdout } from './output.js';

/**
 * The commands, in the order help lists them. A run loads the module of the command it names
 * only (start-up time: `ffnkit info` need not load fine-tuning); help and unknown commands load all.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import('./generate.js')).generateCommand(),
  chat: async () => (await import('./chat.js')).chatCommand(),
  eval: async () => (await import('./eval.js')).evalCommand(),
  factorize: async () => (await import('./factorize.js')).factorizeCommand(),
  prune: async () => (await import('./prune.js')).pruneCommand(),
  finetune: async () => (await import('./finetune.js')).finetuneCommand(),
  quantize: async () => (await import('./quantize.js')).quantizeCommand(),
  info: async () => (await import('./info.js')).infoCommand(),
  logits: async () => (await import('./logits.js')).logitsCommand(),
  tokenize: async () => (await import('./tokenize.js')).tokenizeCommand(),
};

/** The package's version, from its package.json (two folders up from src/cli/ and dist/cli/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `ffnkit bench` where the suites are absent (an installed package): they run from a checkout. */
function benchElsewhere(): Command {
  return new Command('bench')
    .description('benchmark suites (in a checkout of the ffnkit repository only)')
    .allowUnknownOption()
    .argument('[args...]')
    .action(() => {
      throw new FfnkitError('E_UNSUPPORTED', 'bench: the benchmark suites are not part of the installed package; they run from a checkout of the ffnkit repository (npm ci && npm run build && npx ffnkit bench)');
    });
}

/** Runs the command line; `bench` is the benchmark command a checkout adds (bench/command.ts). */
export async function main(argv: string[], bench: Command = benchElsewhere()): Promise<number> {
  const program = new Command('ffnkit')
    .description('Fast feed-forward networks on any CPU, in WebAssembly SIMD')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  const named = argv[2] !== undefined && Object.hasOwn(COMMANDS, argv[2]) ? [argv[2]] : Object.keys(COMMANDS);
  const commands = await Promise.all(named.map((name) => COMMANDS[name]!()));
  for (const command of [...commands, bench]) {
    // pre-built commands do not inherit exitOverride: without it they would exit(1) on bad usage
    command.copyInheritedSettings(program);
    program.addCommand(command);
  }
  watchStdout();
  try {
    await program.parseAsync(argv);
    await flushStdout();
    return 0;
  } catch (e) {
    if (e instanceof StdoutClosed) return 0;
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
