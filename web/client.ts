// The page's side of the worker protocol: `call` sends a request and resolves with its result,
// handing the events before it (progress, pieces, rows) to `onEvent`; `stop` ends a streaming call.

import type { Request, Results, WorkerEvent } from './protocol.js';

/** An error the worker reported: the library's message, and its code when it is an FfnkitError. */
export class WorkerError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

export interface Call<T> {
  id: number;
  result: Promise<T>;
}

export class ModelWorker {
  private readonly worker = new Worker(new URL('./worker/model-worker.ts', import.meta.url), { type: 'module' });
  private nextId = 1;
  private readonly pending = new Map<number, { onEvent: (e: WorkerEvent) => void; resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.worker.onmessage = ({ data }: MessageEvent<WorkerEvent>) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      if (data.type === 'done') {
        this.pending.delete(data.id);
        p.resolve(data.result);
      } else if (data.type === 'error') {
        this.pending.delete(data.id);
        p.reject(new WorkerError(data.message, data.code));
      } else {
        p.onEvent(data);
      }
    };
    this.worker.onerror = (e) => {
      // the worker itself failed (its script did not load): every call fails with the reason
      for (const p of this.pending.values()) p.reject(new WorkerError(`the model worker failed: ${e.message}`, undefined));
      this.pending.clear();
    };
  }

  call<T extends Request['type']>(request: Extract<Request, { type: T }>, onEvent: (e: WorkerEvent) => void = () => {}): Call<Results[T]> {
    const id = this.nextId++;
    const result = new Promise<Results[T]>((resolve, reject) => {
      this.pending.set(id, { onEvent, resolve: resolve as (v: unknown) => void, reject });
    });
    // a File crosses to the worker by structured clone (a handle: the bytes are read there)
    this.worker.postMessage({ id, request });
    return { id, result };
  }

  stop(target: number): void {
    void this.call({ type: 'stop', target }).result;
  }
}
