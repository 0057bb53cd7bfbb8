// Progress on stderr, only when it is a terminal: one line rewritten in place.

export function progressLine(): { update: (text: string) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    update(text: string) {
      if (!tty) return;
      const width = process.stderr.columns ?? 80;
      process.stderr.write(`\r\x1b[2K${text.slice(0, width - 1)}`);
      shown = true;
    },
    done() {
      if (tty && shown) process.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}
