// Small DOM helpers for the page's panels.

/** The element with this id (the page's HTML defines every id the scripts use). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** A new element with a class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

/** Shows `message` in an error slot (next to what caused it), or clears it. */
export function showError(slot: HTMLElement, message: string | undefined): void {
  slot.textContent = message ?? '';
  slot.hidden = !message;
}

/** A number field's value, or an error message in the page's words. */
export function numberField(input: HTMLInputElement, label: string, min: number, max: number, integer: boolean): number | string {
  const v = input.value.trim() === '' ? NaN : Number(input.value);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) return `${label} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}.`;
  if (v < min || v > max) return `${label} must be from ${min} to ${max}; it is ${v}.`;
  return v;
}
