// `ffnkit finetune`: fine-tune a model on text (FactorLLM's recipe for a factorized model:
// experts and routers on L_LM + 0.05 L_PA + 0.01 L_bal, the rest frozen), with a progress line,
// a loss log, checkpoints that --resume continues bit-for-bit, and the result written atomically.

import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { FfnkitError, Tokenizer, readWeights, writeGguf } from '../node/index.js';
import { decodeCheckpoint, encodeCheckpoint, finetune, splitDocuments, teacherText, type Checkpoint } from '../entries/train.js';
import { backendOption, carriedMetadata, engineOptions, numberOption, threadsOption, checkOutPath, writeOutAtomically, readTextOption, inFlagTerms } from './common.js';
import { TOKENIZER_SOURCES } from './help-texts.js';
import { progressLine } from './progress.js';

interface Options {
  model: string;
  tokenizer: string;
  text?: string;
  teacherText?: number;
  teacher?: string;
  steps: number;
  lr: number;
  warmup?: number;
  seqLen: number;
  batch: number;
  accumulate: number;
  clip: number;
  weightDecay: number;
  paWeight: number;
  balanceWeight: number;
  distill: number;
  train?: string;
  freeze?: string;
  seed: number;
  checkpoint?: string;
  checkpointEvery: number;
  resume?: string;
  log?: string;
  out: string;
  backend?: 'scalar' | 'simd' | 'relaxed';
  threads?: number;
}

const patterns = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((p) => p.trim()).filter(Boolean));

/** The library's finetune options as this command's flags, for its errors. */
const FINETUNE_FLAGS = {
  seqLen: '--seq-len', warmup: '--warmup', weightDecay: '--weight-decay', paWeight: '--pa-weight', balanceWeight: '--balance-weight',
  distill: '--distill', teacher: '--teacher', text: '--text', steps: '--steps', batch: '--batch', accumulate: '--accumulate',
  clip: '--clip', lr: '--lr', 'train/freeze': '--train/--freeze', resume: '--resume',
};

export function finetuneCommand(): Command {
  return new Command('finetune')
    .description('fine-tune a model on text (FactorLLM: experts and routers on LM + PA + balance loss), write GGUF')
    .requiredOption('--model <path>', 'model: a factorized GGUF from `ffnkit factorize`, or any dense model')
    .requiredOption('--tokenizer <path>', TOKENIZER_SOURCES)
    .option('--text <file>', 'training text (documents separated by blank lines)')
    .option('--teacher-text <tokens>', "also train on this many tokens of stories sampled from the starting model's dense FFNs (the teacher; seeded by --seed)", numberOption('--teacher-text', 1, 1e9, true))
    .option('--steps <n>', 'optimizer steps', numberOption('--steps', 1, 1e8, true), 300)
    .option('--lr <x>', 'peak AdamW learning rate', numberOption('--lr', 1e-9, 10), 3e-3)
    .option('--warmup <n>', 'linear warm-up steps (default: 5% of --steps)', numberOption('--warmup', 0, 1e8, true))
    .option('--seq-len <n>', 'tokens per sequence', numberOption('--seq-len', 1, 1 << 20, true), 256)
    .option('--batch <n>', 'sequences per micro-batch', numberOption('--batch', 1, 1 << 16, true), 8)
    .option('--accumulate <n>', 'micro-batches per optimizer step (gradient accumulation)', numberOption('--accumulate', 1, 1 << 16, true), 1)
    .option('--clip <x>', 'clip the global gradient norm to this (0 = off)', numberOption('--clip', 0, 1e9), 1)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', numberOption('--weight-decay', 0, 10), 0)
    .option('--pa-weight <x>', 'weight of the PA loss (the paper: 0.05)', numberOption('--pa-weight', 0, 1e6), 0.05)
    .option('--balance-weight <x>', 'weight of the balance term (the paper: 0.01)', numberOption('--balance-weight', 0, 1e6), 0.01)
    .option('--distill <a>', 'weight in [0, 1] of distillation from the starting dense model in the LM term (0 = plain LM loss)', numberOption('--distill', 0, 1), 0)
    .option('--teacher <path>', "with --distill: the dense model to distill from (default: the starting model's dense FFNs), e.g. the unpruned model")
    .option('--train <globs>', "comma-separated patterns over the file's tensor names, without .weight (phi3: attn_qkv, ffn_up), to train (default: 'blk.*.ffn_gate_inp*,blk.*.ffn_*_exps' for a factorized model, else all)")
    .option('--freeze <globs>', "comma-separated tensor patterns to freeze, e.g. 'token_embd,output*'")
    .option('--seed <s>', 'seed of the batch sampling', numberOption('--seed', 0, 2 ** 31, true), 1)
    .option('--checkpoint <file>', 'checkpoint file (default: OUT.ckpt)')
    .option('--checkpoint-every <m>', 'write the checkpoint every m steps (0 = only at the end)', numberOption('--checkpoint-every', 0, 1e8, true), 50)
    .option('--resume <file>', 'continue from a checkpoint of this model and these options')
    .option('--log <file>', 'write the loss of every step as JSON lines')
    .requiredOption('--out <path>', 'output GGUF')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o: Options) => {
      await checkOutPath(o.out);
      // the first checkpoint comes after minutes of training: its path is checked before them too
      await checkOutPath(o.checkpoint ?? `${o.out}.ckpt`, '--checkpoint');
      const source = await readWeights(o.model);
      const { weights } = source;
      const tokenizer = await Tokenizer.load(o.tokenizer);
      if (tokenizer.vocabSize !== weights.config.vocabSize) {
        throw new FfnkitError('E_ARG', `--tokenizer: ${o.tokenizer} has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${weights.config.vocabSize}`);
      }
      const teacher = o.teacher === undefined ? undefined : (await readWeights(o.teacher)).weights;
      if (o.text === undefined && o.teacherText === undefined) throw new FfnkitError('E_ARG', '--text or --teacher-text: nothing to train on');
      let text = '';
      if (o.text !== undefined) {
        text = await readTextOption(o.text, '--text');
        if (text.trim() === '') throw new FfnkitError('E_ARG', `--text: ${o.text} is empty`);
      }
      if (o.teacherText !== undefined) {
        const sampling = progressLine();
        const sampled = await teacherText(weights, tokenizer, {
          tokens: o.teacherText, seed: o.seed,
          engine: engineOptions(o.backend, o.threads),
          onProgress: (done, total) => sampling.update(`finetune: sampling the teacher's text, ${done}/${total} tokens`),
        }).finally(() => sampling.done());
        process.stderr.write(`sampled ${o.teacherText} tokens of the teacher's text (${splitDocuments(sampled).length} stories)\n`);
        text = text ? `${text.trimEnd()}\n\n${sampled}` : sampled;
      }
      let resume: Checkpoint | undefined;
      if (o.resume) {
        let bytes: Uint8Array;
        try {
          bytes = new Uint8Array(await readFile(o.resume));
        } catch (e) {
          throw new FfnkitError('E_ARG', `--resume: cannot read ${o.resume} (${(e as Error).message})`);
        }
        resume = decodeCheckpoint(bytes, o.resume);
      }
      const checkpointPath = o.checkpoint ?? `${o.out}.ckpt`;
      if (o.log && !resume) await writeFile(o.log, '');
      const progress = progressLine();
      const started = performance.now();
      // loss lines reach the log with each checkpoint, so log and checkpoint always agree
      let pending: string[] = [];
      const flushLog = async () => {
        if (o.log && pending.length) await appendFile(o.log, `${pending.join('\n')}\n`);
        pending = [];
      };
      let stepped = false;
      let lastCheckpoint = resume ? `${o.resume} (step ${resume.step})` : 'none written';
      const result = await finetune(weights, tokenizer, text, {
        steps: o.steps, lr: o.lr, ...(o.warmup !== undefined ? { warmup: o.warmup } : {}), seqLen: o.seqLen, batch: o.batch,
        accumulate: o.accumulate, clip: o.clip, weightDecay: o.weightDecay, paWeight: o.paWeight, balanceWeight: o.balanceWeight,
        distill: o.distill, ...(teacher ? { teacher } : {}), ...(o.train ? { train: patterns(o.train)! } : {}), ...(o.freeze ? { freeze: patterns(o.freeze)! } : {}),
        seed: o.seed, checkpointEvery: o.checkpointEvery, ...(resume ? { resume } : {}),
        engine: engineOptions(o.backend, o.threads),
        onStep: (s) => {
          stepped = true;
          pending.push(JSON.stringify({ step: s.step, lr: s.lr, loss: s.total, lm: s.lm, pa: s.pa, balance: s.balance, gradNorm: s.gradNorm, tokensPerSecond: s.tokensPerSecond }));
          const eta = ((performance.now() - started) / 1000 / (s.step - (resume?.step ?? 0))) * (s.steps - s.step);
          progress.update(`finetune: step ${s.step}/${s.steps} loss ${s.total.toFixed(4)} (LM ${s.lm.toFixed(4)}, PA ${s.pa.toFixed(4)}) lr ${s.lr.toExponential(2)} ${Math.round(s.tokensPerSecond)} tok/s, ${Math.round(eta)} s left`);
        },
        onCheckpoint: async (c) => {
          await writeOutAtomically(checkpointPath, encodeCheckpoint(c), flushLog, '--checkpoint');
          lastCheckpoint = `${checkpointPath} (step ${c.step})`;
        },
      }).catch((e: unknown) => {
        const said = inFlagTerms(e, FINETUNE_FLAGS);
        // where to resume from, once training has begun (a non-finite loss stops its first step)
        if (said instanceof FfnkitError && (stepped || said.code === 'E_NUMERIC')) throw new FfnkitError(said.code, `${said.message}; the last good checkpoint: ${lastCheckpoint}`);
        throw said;
      }).finally(() => progress.done());
      await writeOutAtomically(o.out, writeGguf(result.weights, tokenizer.vocabulary(), { metadata: carriedMetadata(source) }));
      const last = result.last;
      process.stderr.write(
        `wrote ${o.out}: ${o.steps} steps, final loss ${last ? last.total.toFixed(4) : 'n/a'} (LM ${last ? last.lm.toFixed(4) : 'n/a'}), ` +
          `${Math.round(result.tokensPerSecond)} tokens/s, wasm memory ${(result.wasmBytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; checkpoint ${checkpointPath}\n`,
      );
    });
}
