// Yielding to the event loop between tokens, so a page repaints and a server serves other
// requests while a generation streams. A message on a MessageChannel is a macrotask without
// setTimeout's clamping (browsers hold nested timeouts to 4 ms, which would cap a stream at 250
// tokens/s); awaiting a resolved promise would be a microtask, which lets nothing else run.

/** Node's MessagePort can stop holding the process open; browsers' ports have no such methods. */
type Port = MessagePort & { ref?: () => void; unref?: () => void };

let channel: { send: Port; receive: Port } | undefined;
const waiting: (() => void)[] = [];

/** Resolves in a new macrotask: after the event loop has run what was queued before it. */
export function nextMacrotask(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  if (!channel) {
    const c = new MessageChannel();
    channel = { send: c.port2 as Port, receive: c.port1 as Port };
    channel.receive.onmessage = () => {
      waiting.shift()?.();
      // an idle port must not keep Node running after the program is done
      if (waiting.length === 0) channel?.receive.unref?.();
    };
  }
  const c = channel;
  return new Promise((resolve) => {
    waiting.push(resolve);
    c.receive.ref?.();
    c.send.postMessage(null);
  });
}
