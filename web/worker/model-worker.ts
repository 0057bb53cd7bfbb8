// The model worker: everything that computes runs here, so the page never blocks, and engines
// may start threads (they wait with Atomics.wait, which a page's main thread may not). Requests
// arrive as messages (protocol.ts); each is answered by its events and one `done` or `error`.
// Streaming requests yield to this worker's event loop between tokens, so a `stop` arrives while
// they run.

import { BACKENDS, ChatSession, FfnkitError, createEngine } from '../../src/index.js';
import { kernelProbe } from '../kernel-check.js';
import type { Request, RequestOf, Results, WorkerEvent } from '../protocol.js';
import { measureBounds, runKernels } from './kernel-bench.js';
import { loadModelFrom, type LoadedModel, type Progress } from './loaded-model.js';
import { MethodModels, compareMethods } from './methods.js';
import { SpeedMeter } from './speed.js';

const scope = self as unknown as { postMessage(event: WorkerEvent): void; onmessage: ((e: MessageEvent<{ id: number; request: Request }>) => void) | null };

let loaded: LoadedModel | undefined;
let methods: MethodModels | undefined;
/** The running streaming requests, by id, for `stop`. */
const running = new Map<number, AbortController>();

function post(event: WorkerEvent): void {
  scope.postMessage(event);
}

function model(): LoadedModel {
  if (!loaded) throw new FfnkitError('E_ARG', 'no model is loaded');
  return loaded;
}

type Handler<T extends Request['type']> = (request: RequestOf<T>, id: number) => Promise<Results[T]>;

const handlers: { [T in Request['type']]: Handler<T> } = {
  async load(r, id) {
    const progress: Progress = (stage, done, total, what) => post({ id, type: 'progress', stage, done, total, ...(what ? { what } : {}) });
    const next = await loadModelFrom(r.model, r.tokenizer, r.threads, progress);
    // only now does the new model replace the old one
    loaded?.model.engine.close();
    loaded = next;
    methods = new MethodModels(next);
    return next.card;
  },

  bounds: () => measureBounds(),

  async complete(r, id) {
    const { model: m, tokenizer } = model();
    const promptTokens = tokenizer.encode(r.prompt, { bos: true }).length;
    const meter = new SpeedMeter(() => promptTokens);
    const finish = await stream(id, m.generate(tokenizer, r.prompt, { ...r.settings, onToken: meter.onToken, signal: signal(id) }));
    return { finish, speed: meter.speed(m) };
  },

  async chat(r, id) {
    const { model: m } = model();
    const session = new ChatSession(m, { ...(r.template !== undefined ? { template: r.template } : {}), contextShift: true });
    session.messages = r.messages;
    const turn = () => session.lastTurn ?? { promptTokens: 0, prefilledTokens: 0 };
    const meter = new SpeedMeter(() => turn().promptTokens, () => turn().prefilledTokens);
    const finish = await stream(id, session.reply({ ...r.settings, onToken: meter.onToken, signal: signal(id) }));
    return { finish, speed: meter.speed(m) };
  },

  async compare(r, id) {
    const m = model();
    return compareMethods(methods!, m, r.settings, r.text, (stage, done, total, what) => post({ id, type: 'progress', stage, done, total, ...(what ? { what } : {}) }));
  },

  kernels: (r, id) => runKernels(r.threads, r.seconds, (row) => post({ id, type: 'row', row })),

  async kernelCheck() {
    const out: Record<string, number[]> = {};
    for (const backend of BACKENDS) {
      const e = await createEngine({ backend }).catch(() => undefined);
      if (e) out[backend] = kernelProbe(e);
    }
    return out;
  },

  async stop(r) {
    running.get(r.target)?.abort();
    return null;
  },
};

function signal(id: number): AbortSignal {
  const controller = new AbortController();
  running.set(id, controller);
  return controller.signal;
}

/** Posts each piece of `pieces` as it comes; returns why the stream ended. */
async function stream(id: number, pieces: AsyncGenerator<string, string>): Promise<string> {
  try {
    for (;;) {
      const r = await pieces.next();
      if (r.done) return r.value;
      post({ id, type: 'piece', text: r.value });
    }
  } finally {
    running.delete(id);
  }
}

scope.onmessage = ({ data: { id, request } }) => {
  const handler = handlers[request.type] as Handler<Request['type']>;
  handler(request, id).then(
    (result) => post({ id, type: 'done', result }),
    (e: unknown) => post({ id, type: 'error', message: e instanceof Error ? e.message : String(e), ...(e instanceof FfnkitError ? { code: e.code } : {}) }),
  );
};
