// `ffnkit tokenize`: the token ids of strings, as llama.cpp's tokenizer tests take them (no BOS,
// special tokens not parsed). The last line of stdout is a JSON array: the ids of each string of
// --strings FILE.json, or of the one --text.

import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { FfnkitError, Tokenizer } from '../node/index.js';
import { out } from './output.js';
import { TOKENIZER_SOURCES } from './help-texts.js';

export function tokenizeCommand(): Command {
  const command = new Command('tokenize');
  return command
    .description('print the token ids of strings (no BOS, special tokens not parsed) as JSON')
    .requiredOption('--tokenizer <path>', TOKENIZER_SOURCES)
    .option('--strings <file>', 'a JSON array of strings: prints an array of id arrays')
    .option('--text <text>', 'one string: prints one id array')
    .action(async (o: { tokenizer: string; strings?: string; text?: string }) => {
      // bad usage: exit code 2, as commander's own errors
      if ((o.strings === undefined) === (o.text === undefined)) command.error('error: give exactly one of --strings FILE.json and --text T', { exitCode: 2 });
      const tokenizer = await Tokenizer.load(o.tokenizer);
      const encode = (s: string) => tokenizer.encode(s, { bos: false, eos: false, parseSpecial: false });
      if (o.text !== undefined) {
        out(`${JSON.stringify(encode(o.text))}\n`);
        return;
      }
      let strings: unknown;
      try {
        strings = JSON.parse(await readFile(o.strings!, 'utf8'));
      } catch (e) {
        throw new FfnkitError('E_ARG', `--strings: cannot read ${o.strings} as JSON (${(e as Error).message})`);
      }
      if (!Array.isArray(strings) || !strings.every((s) => typeof s === 'string')) throw new FfnkitError('E_ARG', `--strings: ${o.strings} must hold a JSON array of strings`);
      out(`${JSON.stringify(strings.map(encode))}\n`);
    });
}
