// Yielding to the event loop between tokens, so a page repaints and a server serves other
// requests while a generation streams. Awaiting a resolved promise would be a microtask, which
// lets nothing else run; setTimeout(0) is clamped to 4 ms once nested in browsers (a cap of 250
// tokens/s). So: setImmediate where it exists (Node: the next loop iteration, after timers and
// I/O), else a message on a MessageChannel (browsers and workers: a task of its own, with a
// rendering opportunity before it). Node's MessagePort delivers the messages posted while it
// handles one in the same callback, so there it would not let timers run.

let channel: MessageChannel | undefined;
const waiting: (() => void)[] = [];

/** Resolves in a new macrotask: after the event loop has run what was queued before it. */
export function nextMacrotask(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  const c = channel;
  return new Promise((resolve) => {
    waiting.push(resolve);
    c.port2.postMessage(null);
  });
}
