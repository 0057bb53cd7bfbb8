// Where a file comes from: a file dropped or picked, or a URL. Two tabs make the choice visible
// and exclusive: only the chosen one's input shows, and a chosen file can be cleared.

import type { Source } from '../protocol.js';
import { el } from '../ui/dom.js';
import { bytes } from '../ui/format.js';

export class SourcePicker {
  private kind: 'file' | 'url' = 'url';
  private file: File | undefined;
  readonly fileInput: HTMLInputElement;
  readonly urlInput: HTMLInputElement;
  private readonly tabs: Record<'file' | 'url', HTMLInputElement>;
  private readonly panes: Record<'file' | 'url', HTMLElement>;
  private readonly chosen: HTMLElement;
  private readonly dropText: HTMLElement;

  /** `id` prefixes the inputs' ids (`${id}-file`, `${id}-url`); `changed` hears a new file. */
  constructor(root: HTMLElement, id: string, what: string, defaultUrl: string, private readonly changed: () => void) {
    root.classList.add('picker');
    const tabs = el('div', 'tabs');
    tabs.setAttribute('role', 'radiogroup');
    tabs.setAttribute('aria-label', `${what}: file or URL`);
    const tab = (kind: 'file' | 'url', text: string) => {
      const label = el('label', 'tab');
      const input = el('input');
      input.type = 'radio';
      input.name = `${id}-kind`;
      input.value = kind;
      input.id = `${id}-kind-${kind}`;
      input.addEventListener('change', () => this.show(kind));
      label.append(input, text);
      tabs.append(label);
      return input;
    };
    this.tabs = { file: tab('file', 'File'), url: tab('url', 'URL') };

    this.fileInput = el('input');
    this.fileInput.type = 'file';
    this.fileInput.id = `${id}-file`;
    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files?.[0];
      if (f) this.setFile(f);
    });
    const drop = el('label', 'drop');
    drop.htmlFor = this.fileInput.id;
    this.dropText = el('span', '', `Drop ${what} here, or click to choose one`);
    drop.append(this.dropText, this.fileInput);
    this.chosen = el('p', 'chosen');
    this.chosen.hidden = true;
    const filePane = el('div', 'pane');
    filePane.append(drop, this.chosen);

    this.urlInput = el('input');
    this.urlInput.type = 'text';
    this.urlInput.id = `${id}-url`;
    this.urlInput.value = defaultUrl;
    this.urlInput.spellcheck = false;
    this.urlInput.setAttribute('aria-label', `${what} URL`);
    const urlPane = el('div', 'pane');
    urlPane.append(this.urlInput);

    this.panes = { file: filePane, url: urlPane };
    root.append(tabs, filePane, urlPane);
    this.show('url');
  }

  /** The chosen source: the file (on the File tab, once one is chosen) or the URL typed. */
  source(): Source | undefined {
    if (this.kind === 'file') return this.file ? { kind: 'file', file: this.file } : undefined;
    const url = this.urlInput.value.trim();
    return url ? { kind: 'url', url } : undefined;
  }

  get mode(): 'file' | 'url' {
    return this.kind;
  }

  /** A dropped or picked file: the File tab becomes the chosen one. */
  setFile(file: File): void {
    this.file = file;
    this.chosen.replaceChildren(`${file.name} (${bytes(file.size)}) `);
    const clear = el('button', 'link', 'Clear');
    clear.type = 'button';
    clear.addEventListener('click', () => this.clearFile());
    this.chosen.append(clear);
    this.chosen.hidden = false;
    this.show('file');
    this.changed();
  }

  private clearFile(): void {
    this.file = undefined;
    this.fileInput.value = '';
    this.chosen.hidden = true;
  }

  private show(kind: 'file' | 'url'): void {
    this.kind = kind;
    this.tabs[kind].checked = true;
    for (const k of ['file', 'url'] as const) {
      this.panes[k].hidden = k !== kind;
      this.tabs[k].parentElement!.classList.toggle('active', k === kind);
    }
  }
}
