// Numbers as the page prints them: sizes in binary units, rates with three significant digits.

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Three significant digits, with thousands separators. */
export function sig(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const r = Number(v.toPrecision(3));
  return r.toLocaleString('en-US', { maximumFractionDigits: Math.max(0, 2 - Math.floor(Math.log10(Math.abs(r) || 1))) });
}

export function count(n: number): string {
  if (n >= 1e9) return `${sig(n / 1e9)} B`;
  if (n >= 1e6) return `${sig(n / 1e6)} M`;
  if (n >= 1e3) return `${sig(n / 1e3)} K`;
  return String(n);
}

export function ms(seconds: number): string {
  return seconds < 1 ? `${sig(seconds * 1000)} ms` : `${sig(seconds)} s`;
}
