// The Chat panel: a conversation when a chat template applies (the model's own, the built-in
// ChatML, or one from a URL), plain completion otherwise. Replies stream; Send becomes Stop while
// they do; each reply can be copied, the last regenerated. Enter sends, Shift+Enter is a new line.

import type { ChatMessage } from '../../src/index.js';
import { messageText } from '../../src/text/chat-template.js';
import type { ModelWorker } from '../client.js';
import type { Bounds, ModelCard, SamplingSettings, Speed } from '../protocol.js';
import { CHATML, DEFAULT_TEMPLATE_URL } from '../templates.js';
import { $, el, numberField, showError } from '../ui/dom.js';
import { decodeText, prefillText } from '../ui/speed-line.js';

type TemplateChoice = 'model' | 'none' | 'chatml' | 'url';

const FINISH: Record<string, string> = {
  stop: 'ended by the model', length: 'reached the token limit', context: 'filled the context', abort: 'stopped',
};

export class ChatPanel {
  private messages: ChatMessage[] = [];
  /** How each reply ended, shown under it. */
  private readonly finishes = new WeakMap<ChatMessage, string>();
  private card: ModelCard | undefined;
  private running: number | undefined;
  private readonly send = $<HTMLButtonElement>('send');
  private readonly prompt = $<HTMLTextAreaElement>('prompt');
  private readonly template = $<HTMLSelectElement>('template');
  private readonly error = $('chat-error');
  private readonly panel = $('chat-panel');

  constructor(private readonly worker: ModelWorker, private readonly bounds: () => Bounds | undefined) {
    $<HTMLInputElement>('template-url').value = DEFAULT_TEMPLATE_URL;
    this.send.addEventListener('click', () => (this.running !== undefined ? this.stop() : void this.submit()));
    this.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (this.running === undefined) void this.submit();
      }
    });
    this.template.addEventListener('change', () => this.showMode());
    $('clear-chat').addEventListener('click', () => {
      this.messages = [];
      this.render();
    });
    this.setEnabled(false);
  }

  /** A new model: its template if it has one, else plain completion; the conversation starts over. */
  modelLoaded(card: ModelCard): void {
    this.card = card;
    const own = this.template.querySelector<HTMLOptionElement>('option[value=model]')!;
    own.disabled = !card.template;
    this.template.value = card.template ? 'model' : this.template.value === 'model' ? 'none' : this.template.value;
    this.messages = [];
    this.render();
    this.showMode();
    this.setEnabled(true);
  }

  /** Ends a running reply (before another model loads). */
  stop(): void {
    if (this.running !== undefined) this.worker.stop(this.running);
  }

  private get choice(): TemplateChoice {
    return this.template.value as TemplateChoice;
  }

  private showMode(): void {
    const chat = this.choice !== 'none';
    $('template-url-row').hidden = this.choice !== 'url';
    $('system-box').hidden = !chat;
    $('messages').hidden = !chat;
    $('completion').hidden = chat;
    $('clear-chat').hidden = !chat;
    $('chat-title').textContent = chat ? 'Chat' : 'Completion';
    this.prompt.placeholder = chat ? 'Your message (Enter sends, Shift+Enter for a new line)' : 'The text to continue (Enter runs)';
    $('chat-mode').textContent = chat
      ? `Chatting with ${this.choice === 'model' ? "the model's own template" : this.choice === 'chatml' ? 'the built-in ChatML template' : 'the template at the URL below'}.`
      : this.card?.template ? 'Plain completion: the model continues your text.' : 'This model has no chat template, so the page continues your text. Choose a template to chat.';
    this.panel.dataset.mode = chat ? 'chat' : 'completion';
  }

  private setEnabled(on: boolean): void {
    this.send.disabled = !on;
  }

  private settings(): SamplingSettings | string {
    const maxTokens = numberField($<HTMLInputElement>('max-tokens'), 'New tokens', 1, 4096, true);
    if (typeof maxTokens === 'string') return maxTokens;
    const temperature = numberField($<HTMLInputElement>('temperature'), 'Temperature', 0, 2, false);
    if (typeof temperature === 'string') return temperature;
    return { maxTokens, temperature };
  }

  /** The template text to send, undefined for the model's own; an error message on failure. */
  private async templateText(): Promise<{ text: string | undefined } | string> {
    if (this.choice === 'model') return { text: undefined };
    if (this.choice === 'chatml') return { text: CHATML };
    const url = $<HTMLInputElement>('template-url').value.trim();
    const response = await fetch(url).catch(() => undefined);
    if (!response) return `Template: could not fetch ${url}.`;
    if (!response.ok) return `Template: fetching ${url} gave HTTP ${response.status}.`;
    return { text: await response.text() };
  }

  private async submit(): Promise<void> {
    delete this.panel.dataset.finish;
    const settings = this.settings();
    if (typeof settings === 'string') return showError(this.error, settings);
    const text = this.prompt.value;
    if (!text.trim()) return showError(this.error, this.choice === 'none' ? 'Type the text to continue.' : 'Type a message first.');
    if (this.choice === 'none') return this.complete(text, settings);
    const template = await this.templateText();
    if (typeof template === 'string') return showError(this.error, template);
    this.messages.push({ role: 'user', content: text });
    this.prompt.value = '';
    await this.reply(template.text, settings);
  }

  /** Streams the assistant's reply to the conversation as it stands (a user message last). */
  private async reply(template: string | undefined, settings: SamplingSettings): Promise<void> {
    const system = $<HTMLTextAreaElement>('system').value.trim();
    const assistant: ChatMessage = { role: 'assistant', content: '' };
    this.messages.push(assistant);
    const bubble = this.render();
    const conversation = [...(system ? [{ role: 'system' as const, content: system }] : []), ...this.messages.slice(0, -1)];
    const finish = await this.run(
      this.worker.call({ type: 'chat', messages: conversation, template, settings }, (e) => {
        if (e.type !== 'piece') return;
        assistant.content += e.text;
        this.grow(bubble!, e.text);
      }),
    );
    if (finish) this.finishes.set(assistant, FINISH[finish] ?? finish);
    else if (!assistant.content) this.messages.pop(); // failed before the reply began
    this.render();
  }

  private async complete(text: string, settings: SamplingSettings): Promise<void> {
    const out = $('completion-output');
    out.replaceChildren(el('span', 'prompt-text', text));
    delete out.dataset.finish;
    const finish = await this.run(this.worker.call({ type: 'complete', prompt: text, settings }, (e) => e.type === 'piece' && this.grow(out, e.text)));
    $('completion-finish').textContent = finish ? `The text ${FINISH[finish] ?? finish}.` : '';
  }

  private grow(target: HTMLElement, text: string): void {
    target.append(text);
    this.panel.dataset.pieces = String(Number(this.panel.dataset.pieces ?? 0) + 1);
  }

  /** Runs a streaming call: Send is Stop meanwhile; the finish and the speed are shown after. Returns the finish, undefined on an error. */
  private async run(call: { id: number; result: Promise<{ finish: string; speed: Speed }> }): Promise<string | undefined> {
    this.running = call.id;
    this.panel.dataset.state = 'streaming';
    delete this.panel.dataset.finish;
    this.panel.dataset.pieces = '0';
    this.send.textContent = 'Stop';
    this.send.classList.add('stop');
    showError(this.error, undefined);
    try {
      const { finish, speed } = await call.result;
      this.panel.dataset.finish = finish;
      this.panel.dataset.speed = JSON.stringify(speed);
      const threads = this.card?.threads ?? 1;
      $('speed-prefill').textContent = prefillText(speed, this.bounds(), threads);
      $('speed-decode').textContent = decodeText(speed, this.bounds(), threads);
      return finish;
    } catch (e) {
      showError(this.error, (e as Error).message);
      return undefined;
    } finally {
      this.running = undefined;
      this.panel.dataset.state = 'idle';
      this.send.textContent = 'Send';
      this.send.classList.remove('stop');
    }
  }

  /** Draws the conversation; returns the last assistant bubble. */
  private render(): HTMLElement | undefined {
    const list = $('messages');
    list.replaceChildren();
    let last: HTMLElement | undefined;
    this.messages.forEach((m, i) => {
      const item = el('li', `message ${m.role}`);
      const body = el('div', 'body', messageText(m));
      item.append(el('span', 'role', m.role === 'user' ? 'You' : 'Model'), body);
      if (m.role === 'assistant') {
        last = body;
        const tools = el('div', 'tools');
        const copy = el('button', 'link', 'Copy');
        copy.type = 'button';
        copy.addEventListener('click', () => {
          navigator.clipboard.writeText(messageText(m)).then(() => (copy.textContent = 'Copied'), () => (copy.textContent = 'Copy failed: select the text'));
        });
        const finish = this.finishes.get(m);
        if (finish) tools.append(el('span', 'finish', finish));
        tools.append(copy);
        if (i === this.messages.length - 1) {
          const again = el('button', 'link', 'Regenerate');
          again.type = 'button';
          again.addEventListener('click', () => void this.regenerate());
          tools.append(again);
        }
        item.append(tools);
      }
      list.append(item);
    });
    list.scrollTop = list.scrollHeight;
    return last;
  }

  private async regenerate(): Promise<void> {
    if (this.running !== undefined) return;
    delete this.panel.dataset.finish;
    const settings = this.settings();
    if (typeof settings === 'string') return showError(this.error, settings);
    const template = await this.templateText();
    if (typeof template === 'string') return showError(this.error, template);
    this.messages.pop();
    await this.reply(template.text, settings);
  }
}
