/**
 * The hub's web chat widget: one script tag on any site (docs/widget.md).
 *
 *   <script src="https://hub.example/widget.js" data-channel="web" data-subject="billing"
 *           data-lang="de" data-color="#0b5cad" data-prechat="name,email" async></script>
 *
 * Why POST /api/customer/init and the default namespace rather than the chat plugin API
 * (/chatplugin.authenticate, /ws.chatplugin): the default namespace is where the hub's customer
 * protocol is complete. It relays typing both ways, delivers the hub's handOff,
 * noAgentAvailable, participantJoined/Left and endOfConversation notices, de-duplicates sends by
 * clientMessageId, lets the customer end the conversation (endConversation) and catches up after
 * a reconnect with joinConversation {afterSeq} from the database; the customer token it returns
 * also fetches the transcript PDF. The chat plugin namespace carries chat messages only.
 *
 * Everything is rendered in a shadow root with adopted style sheets and text nodes: no
 * innerHTML, no inline style, no eval, so a host page with a strict CSP works.
 */
import { io, type Socket } from 'socket.io-client';
import { h } from './dom.js';
import { translator, type StringKey, type Translator } from './i18n.js';
import { SessionStore, visitorId, type Outgoing, type Session, type WireMessage } from './session.js';
import { brandColours, CSS } from './style.js';

/** afterSeq goes back this far (5 s of seq, which counts microseconds): docs/protocol.md, "Catch-up". */
const CATCH_UP_MARGIN = 5_000_000;
const TYPING_EVERY_MS = 2_500;
const TYPING_SHOWN_MS = 5_000;
const ACK_TIMEOUT_MS = 10_000;

interface Config {
  hub: string;
  channel: string;
  subject?: string;
  lang: string;
  title?: string;
  primary?: string;
  /** Pre-chat fields to ask: name and/or email; none skips the form. */
  prechat: Array<'name' | 'email'>;
  open: boolean;
}

type Ack<T> = ({ ok: true } & T) | { ok: false; error: { code: string; message: string } };

function readConfig(script: HTMLScriptElement | null): Config {
  const data = script?.dataset ?? {};
  const src = script?.src ? new URL(script.src, location.href) : undefined;
  const hub = (data['hub'] || src?.origin || location.origin).replace(/\/$/, '');
  const prechat = (data['prechat'] ?? 'name,email')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is 'name' | 'email' => s === 'name' || s === 'email');
  return {
    hub,
    channel: data['channel'] || 'web',
    subject: data['subject'] || undefined,
    lang: data['lang'] || document.documentElement.lang || navigator.language || 'en',
    title: data['title'] || undefined,
    primary: data['color'] || undefined,
    prechat,
    open: data['open'] === 'true',
  };
}

class Widget {
  private readonly t: Translator['t'];
  private readonly store: SessionStore;
  private session: Session | undefined;
  private socket: Socket | undefined;
  private joined = false;
  private readonly messages = new Map<string, { message: WireMessage; el: HTMLElement }>();
  private readonly pendingEls = new Map<string, HTMLElement>();
  private flushing = false;
  private unread = 0;
  private lastTypingSent = 0;
  private typingTimer: number | undefined;
  private titleTimer: number | undefined;
  private readonly pageTitle = document.title;

  // The elements.
  private readonly root: HTMLElement;
  private readonly launcher: HTMLButtonElement;
  private readonly badge: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly errorBox: HTMLElement;
  private readonly prechat: HTMLFormElement;
  private readonly body: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly typing: HTMLElement;
  private readonly composer: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly endButton: HTMLButtonElement;
  private readonly endedBox: HTMLElement;
  private readonly announcer: HTMLElement;

  constructor(private readonly config: Config) {
    const tr = translator(config.lang);
    this.t = tr.t;
    this.store = new SessionStore(`chathub:${config.hub}:${config.channel}:${config.subject ?? ''}`);

    const host = h('div', { 'data-chathub-widget': '' });
    const colours = brandColours(config.primary);
    // CSSOM custom properties: allowed under a CSP without 'unsafe-inline' (a style attribute is not).
    host.style.setProperty('--primary', colours.primary);
    host.style.setProperty('--on-primary', colours.onPrimary);
    const shadow = host.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];

    const title = config.title ?? this.t('title');
    this.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    this.launcher = h('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'chathub-panel' }, this.t('open'), this.badge);
    const minimise = h('button', { type: 'button', class: 'minimise' }, this.t('minimise'));
    this.endButton = h('button', { type: 'button', class: 'end', hidden: true }, this.t('end'));
    this.banner = h('p', { class: 'banner', role: 'status', hidden: true }, this.t('reconnecting'));
    this.errorBox = h('p', { class: 'error', role: 'alert', hidden: true });

    const fields: HTMLElement[] = [h('p', {}, this.t('intro'))];
    for (const field of config.prechat) {
      const id = `chathub-${field}`;
      fields.push(
        h('label', { for: id }, this.t(field)),
        h('input', { id, name: field, type: field === 'email' ? 'email' : 'text', autocomplete: field, required: true, maxlength: field === 'email' ? '320' : '200' }),
      );
    }
    fields.push(h('button', { type: 'submit', class: 'primary' }, this.t('start')));
    this.prechat = h('form', { class: 'prechat', hidden: true, 'aria-label': this.t('title') }, ...fields);

    // role=log (on the scroller) is a polite live region: screen readers announce each message appended.
    this.log = h('ol', { class: 'log' });
    // tabindex: the scrolling history is reachable by keyboard (scrollable-region-focusable).
    this.body = h('div', { class: 'body', role: 'log', 'aria-live': 'polite', 'aria-label': title, tabindex: '0', hidden: true }, this.log);
    this.typing = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.input = h('textarea', { id: 'chathub-message', name: 'message', rows: '1', maxlength: '20000' });
    this.composer = h(
      'form',
      { class: 'composer', hidden: true },
      h('label', { for: 'chathub-message', class: 'sr' }, this.t('message')),
      this.input,
      h('button', { type: 'submit', class: 'primary' }, this.t('send')),
    );
    const transcript = h('button', { type: 'button', class: 'primary transcript' }, this.t('transcript'));
    const newChat = h('button', { type: 'button', class: 'primary new-chat' }, this.t('newChat'));
    this.endedBox = h('div', { class: 'ended', hidden: true }, transcript, newChat);
    this.announcer = h('p', { class: 'sr', role: 'status' });

    this.panel = h(
      'section',
      { id: 'chathub-panel', class: 'panel', role: 'dialog', 'aria-label': title, hidden: true, 'data-state': 'idle', 'data-socket': 'disconnected', 'data-conversation-id': '' },
      h('div', { class: 'head' }, h('h2', {}, title), this.endButton, minimise),
      this.banner,
      this.errorBox,
      this.prechat,
      this.body,
      this.typing,
      this.composer,
      this.endedBox,
    );
    this.root = h('div', { class: 'root', dir: tr.dir, lang: tr.lang }, this.launcher, this.panel, this.announcer);
    shadow.append(this.root);
    document.body.append(host);

    this.launcher.addEventListener('click', () => this.setOpen(true));
    minimise.addEventListener('click', () => this.setOpen(false));
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.setOpen(false);
    });
    this.prechat.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.start();
    });
    this.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a new line.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener('input', () => this.typed());
    this.endButton.addEventListener('click', () => void this.end());
    transcript.addEventListener('click', () => void this.downloadTranscript());
    newChat.addEventListener('click', () => this.newChat());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.isOpen()) this.clearUnread();
    });
    // The browser knows before Socket.IO's heartbeats do: show the banner and queue at once.
    addEventListener('offline', () => this.socket?.disconnect());
    addEventListener('online', () => this.socket?.connect());
    this.store.watch(() => this.adoptStoredSession());

    this.session = this.store.load();
    if (this.session) this.resume();
    else this.showPrechat();
    // Open again after a reload if it was open (per tab: sessionStorage).
    if (config.open || readFlag(OPEN_FLAG)) this.setOpen(true, false);
  }

  private isOpen(): boolean {
    return !this.panel.hidden;
  }

  private setOpen(open: boolean, focus = true): void {
    this.panel.hidden = !open;
    this.launcher.hidden = open;
    this.launcher.setAttribute('aria-expanded', String(open));
    this.root.classList.toggle('open', open);
    writeFlag(OPEN_FLAG, open);
    if (open) {
      this.clearUnread();
      if (focus) this.focusFirst();
    } else if (focus) this.launcher.focus();
  }

  /** Focus where the user continues: the pre-chat form, the message box, or the ended actions. */
  private focusFirst(): void {
    const target = !this.prechat.hidden
      ? this.prechat.querySelector<HTMLElement>('input, button')
      : !this.composer.hidden
        ? this.input
        : !this.endedBox.hidden
          ? this.endedBox.querySelector<HTMLElement>('button')
          : undefined;
    target?.focus();
  }

  private setState(state: 'prechat' | 'starting' | 'ready' | 'ended' | 'error'): void {
    this.panel.setAttribute('data-state', state);
    this.prechat.hidden = state !== 'prechat';
    this.body.hidden = state === 'prechat';
    this.composer.hidden = state !== 'ready';
    this.endButton.hidden = state !== 'ready';
    this.endedBox.hidden = state !== 'ended';
    if (state !== 'ready') this.typing.textContent = '';
  }

  private showPrechat(): void {
    if (this.config.prechat.length === 0) {
      this.setState('starting');
      void this.start();
      return;
    }
    this.setState('prechat');
  }

  private showError(message: string | undefined): void {
    this.errorBox.hidden = !message;
    this.errorBox.textContent = message ? this.t('error', { message }) : '';
  }

  /** POST /api/customer/init with the pre-chat answers, then join. */
  private async start(): Promise<void> {
    const value = (name: string): string => (this.prechat.querySelector<HTMLInputElement>(`input[name="${name}"]`)?.value ?? '').trim();
    const name = value('name') || this.t('visitor');
    const email = value('email');
    this.setState('starting');
    this.showError(undefined);
    const body: Record<string, string> = { firstName: name, channel: this.config.channel, language: translator(this.config.lang).lang, url: location.href.slice(0, 2000), requestId: `widget-${crypto.randomUUID()}` };
    if (email) body['email'] = email;
    else body['refId'] = visitorId();
    if (this.config.subject) body['subject'] = this.config.subject;
    try {
      const res = await fetch(`${this.config.hub}/api/customer/init`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answer = (await res.json()) as { conversationId?: string; token?: string; participant?: { id: string; name: string }; error?: string };
      if (!res.ok || !answer.conversationId || !answer.token || !answer.participant) throw new Error(answer.error ?? `HTTP ${res.status}`);
      this.session = { conversationId: answer.conversationId, participantId: answer.participant.id, name: answer.participant.name, token: answer.token };
      this.store.save(this.session);
      this.resume();
      this.focusFirst();
    } catch (err) {
      this.setState('prechat');
      this.showError((err as Error).message);
    }
  }

  /** Opens the socket for the stored session (a reload, another tab, or right after init). */
  private resume(): void {
    const session = this.session;
    if (!session) return;
    this.panel.setAttribute('data-conversation-id', session.conversationId);
    for (const item of session.outbox ?? []) this.renderPending(item);
    this.setState(session.ended ? 'ended' : 'ready');
    this.socket?.close();
    const socket = io(this.config.hub, { auth: { token: session.token }, transports: ['websocket', 'polling'] });
    this.socket = socket;
    socket.on('connect', () => this.join());
    socket.on('disconnect', () => {
      this.joined = false;
      this.panel.setAttribute('data-socket', 'disconnected');
      if (this.session && !this.session.ended) this.banner.hidden = false;
    });
    socket.on('connect_error', () => {
      if (this.session && !this.session.ended) this.banner.hidden = false;
    });
    socket.on('conversationInfo', (info: { conversation: { id: string; status: string }; messages: WireMessage[] }) => {
      if (info.conversation.id !== this.session?.conversationId) return;
      for (const message of info.messages) this.receive(message, false);
      if (info.conversation.status === 'ended') this.markEnded();
    });
    socket.on('messageArrived', (message: WireMessage) => {
      if (message.conversationId === this.session?.conversationId) this.receive(message, true);
    });
  }

  /** joinConversation, from a little before the last seq after a reconnect (merged by id). */
  private join(): void {
    const session = this.session;
    const socket = this.socket;
    if (!session || !socket) return;
    const payload: Record<string, unknown> = { conversationId: session.conversationId, id: session.participantId };
    if (session.lastSeq !== undefined) payload['afterSeq'] = Math.max(0, session.lastSeq - CATCH_UP_MARGIN);
    socket.timeout(ACK_TIMEOUT_MS).emit('joinConversation', payload, (err: Error | null, ack?: Ack<{ role: string }>) => {
      if (err || !ack) return; // Socket.IO reconnects, and joins again then.
      if (!ack.ok) {
        if (ack.error.code === 'UNAUTHORIZED' || ack.error.code === 'FORBIDDEN' || ack.error.code === 'NOT_FOUND') {
          // The token expired or the conversation is gone: start afresh.
          this.forget();
          this.showError(ack.error.message);
        } else this.showError(ack.error.message);
        return;
      }
      this.joined = true;
      this.banner.hidden = true;
      this.showError(undefined);
      this.panel.setAttribute('data-socket', 'connected');
      void this.flush();
    });
  }

  private forget(): void {
    this.socket?.close();
    this.socket = undefined;
    this.session = undefined;
    this.store.save(undefined);
    this.messages.clear();
    this.pendingEls.clear();
    this.log.replaceChildren();
    this.panel.setAttribute('data-conversation-id', '');
    this.panel.setAttribute('data-socket', 'disconnected');
    this.banner.hidden = true;
    this.showPrechat();
  }

  /** Another tab started, ended or dropped the conversation. */
  private adoptStoredSession(): void {
    const stored = this.store.load();
    if (!stored) {
      if (this.session) this.forget();
      return;
    }
    if (stored.conversationId !== this.session?.conversationId) {
      this.session = stored;
      this.resume();
    } else if (stored.ended && !this.session.ended) this.markEnded();
  }

  private saveSession(): void {
    if (this.session) this.store.save(this.session);
  }

  /** Merges a message by id (history, live, catch-up repeats) and keeps the list in seq order. */
  private receive(message: WireMessage, live: boolean): void {
    if (message.tag === 'whisper') return; // The hub never sends one to a customer; never show one.
    const mine = message.from.id === this.session?.participantId;
    if (message.type === 'ActivityMessage' && message.activityType === 'typing') {
      if (!mine) this.showTyping(message.from.name);
      return;
    }
    if (this.messages.has(message.id)) return;
    if (message.seq !== undefined && this.session && message.seq > (this.session.lastSeq ?? 0)) {
      this.session.lastSeq = message.seq;
      this.saveSession();
    }
    const el = this.render(message, mine);
    if (!el) {
      this.messages.set(message.id, { message, el: h('li') });
      if (message.activityType === 'endOfConversation') this.markEnded();
      return;
    }
    el.setAttribute('data-id', message.id);
    if (message.seq !== undefined) el.setAttribute('data-seq', String(message.seq));
    // Our own message, acknowledged elsewhere (another tab, or an ack lost to a disconnect).
    const pending = message.clientMessageId ? this.pendingEls.get(message.clientMessageId) : undefined;
    if (pending && mine) {
      pending.replaceWith(el);
      this.pendingEls.delete(message.clientMessageId as string);
      this.dropFromOutbox(message.clientMessageId as string);
    } else this.insertBySeq(el, message.seq);
    this.messages.set(message.id, { message, el });
    if (message.type === 'ChatMessage' && !mine) {
      this.typing.textContent = '';
      if (live && (!this.isOpen() || document.hidden)) this.bumpUnread();
    }
    if (message.activityType === 'endOfConversation') this.markEnded();
    this.body.scrollTop = this.body.scrollHeight;
  }

  private insertBySeq(el: HTMLElement, seq: number | undefined): void {
    if (seq !== undefined) {
      for (const sibling of Array.from(this.log.children)) {
        const other = Number(sibling.getAttribute('data-seq') ?? NaN);
        if (other > seq || sibling.hasAttribute('data-pending')) {
          sibling.before(el);
          return;
        }
      }
    }
    this.log.append(el);
  }

  /** The list item for a message, or undefined for one the customer need not see. */
  private render(message: WireMessage, mine: boolean): HTMLElement | undefined {
    if (message.type === 'ChatMessage') {
      const who = mine ? this.t('you') : message.from.name || this.t('agent');
      const attachments = (message.attachments ?? []).map((a) => {
        const safe = /^https?:/i.test(a.contentUrl);
        const label = this.t('attachment', { name: a.name });
        return h('p', { class: 'text' }, safe ? h('a', { href: a.contentUrl, target: '_blank', rel: 'noopener noreferrer' }, label) : label);
      });
      return h(
        'li',
        { class: mine ? 'msg mine' : 'msg', 'data-mine': String(mine) },
        h('span', { class: 'who' }, who),
        message.text ? h('p', { class: 'text' }, message.text) : undefined,
        ...attachments,
      );
    }
    const name = message.from.name;
    const info = message.info ?? {};
    let key: StringKey | undefined;
    let text: string | undefined;
    switch (message.activityType) {
      case 'participantJoined':
        if (!mine && message.from.role !== 'customer') key = 'joined';
        break;
      case 'participantLeft':
        if (!mine && message.from.role !== 'customer') key = 'left';
        break;
      case 'handOff':
        key = info['reason'] === 'queued' ? 'queued' : 'transferred';
        break;
      case 'noAgentAvailable':
        key = 'noAgent';
        break;
      case 'endOfConversation':
        key = 'ended';
        break;
      case 'greetings':
        text = typeof info['text'] === 'string' ? info['text'] : undefined;
        break;
      default:
        break;
    }
    if (key) text = this.t(key, { name });
    return text ? h('li', { class: 'notice', 'data-activity': message.activityType ?? '' }, text) : undefined;
  }

  private renderPending(item: Outgoing): void {
    if (this.pendingEls.has(item.clientMessageId)) return;
    const el = h(
      'li',
      { class: 'msg mine', 'data-mine': 'true', 'data-pending': item.clientMessageId },
      h('span', { class: 'who' }, this.t('you')),
      h('p', { class: 'text' }, item.text),
      h('span', { class: 'pending' }, this.t('sending')),
    );
    this.pendingEls.set(item.clientMessageId, el);
    this.log.append(el);
    this.body.scrollTop = this.body.scrollHeight;
  }

  /** Queues the typed message (kept across reloads) and sends the queue if the socket is up. */
  private send(): void {
    const text = this.input.value.trim();
    if (!text || !this.session || this.session.ended) return;
    this.input.value = '';
    const item: Outgoing = { clientMessageId: `w-${crypto.randomUUID()}`, text };
    this.session.outbox = [...(this.session.outbox ?? []), item];
    this.saveSession();
    this.renderPending(item);
    void this.flush();
  }

  private dropFromOutbox(clientMessageId: string): void {
    if (!this.session?.outbox) return;
    this.session.outbox = this.session.outbox.filter((o) => o.clientMessageId !== clientMessageId);
    this.saveSession();
  }

  /** Sends the outbox in order with each message's clientMessageId: a repeat is answered, never stored twice. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.joined && this.socket && this.session?.outbox?.length) {
        const item = this.session.outbox[0] as Outgoing;
        const session = this.session;
        const ack = await new Promise<Ack<{ message: WireMessage }> | undefined>((resolve) => {
          this.socket
            ?.timeout(ACK_TIMEOUT_MS)
            .emit(
              'sendMessage',
              { conversationId: session.conversationId, type: 'ChatMessage', from: { id: session.participantId, name: session.name }, text: item.text, clientMessageId: item.clientMessageId },
              (err: Error | null, answer?: Ack<{ message: WireMessage }>) => resolve(err ? undefined : answer),
            );
        });
        if (!ack) return; // Timed out or disconnected: the next join sends it again.
        if (!ack.ok) {
          if (ack.error.code === 'CONVERSATION_ENDED') {
            this.markEnded();
            return;
          }
          if (ack.error.code === 'UNAVAILABLE' || ack.error.code === 'RATE_LIMITED') {
            setTimeout(() => void this.flush(), 2_000);
            return;
          }
          // Refused for good (e.g. too long): drop it and say why.
          this.showError(ack.error.message);
          this.pendingEls.get(item.clientMessageId)?.remove();
          this.pendingEls.delete(item.clientMessageId);
          this.dropFromOutbox(item.clientMessageId);
          continue;
        }
        if (this.messages.has(ack.message.id)) {
          this.pendingEls.get(item.clientMessageId)?.remove();
          this.pendingEls.delete(item.clientMessageId);
          this.dropFromOutbox(item.clientMessageId);
        } else this.receive(ack.message, false);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Tells the agent the customer is typing, at most every few seconds. */
  private typed(): void {
    const session = this.session;
    if (!session || !this.joined || Date.now() - this.lastTypingSent < TYPING_EVERY_MS || !this.input.value) return;
    this.lastTypingSent = Date.now();
    this.socket?.emit('sendMessage', { conversationId: session.conversationId, type: 'ActivityMessage', from: { id: session.participantId, name: session.name }, activityType: 'typing', info: {} }, () => undefined);
  }

  private showTyping(name: string): void {
    this.typing.textContent = this.t('typing', { name: name || this.t('agent') });
    clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(() => {
      this.typing.textContent = '';
    }, TYPING_SHOWN_MS);
  }

  private bumpUnread(): void {
    this.unread += 1;
    this.badge.hidden = false;
    this.badge.textContent = String(this.unread);
    this.launcher.setAttribute('aria-label', `${this.t('open')}, ${this.t('unread', { count: this.unread })}`);
    if (this.titleTimer === undefined) {
      let flip = false;
      this.titleTimer = window.setInterval(() => {
        flip = !flip;
        document.title = flip ? `(${this.unread}) ${this.t('newMessage')}` : this.pageTitle;
      }, 1_000);
    }
  }

  private clearUnread(): void {
    this.unread = 0;
    this.badge.hidden = true;
    this.badge.textContent = '';
    this.launcher.removeAttribute('aria-label');
    if (this.titleTimer !== undefined) {
      clearInterval(this.titleTimer);
      this.titleTimer = undefined;
      document.title = this.pageTitle;
    }
  }

  private async end(): Promise<void> {
    const session = this.session;
    if (!session || !this.socket || !confirmEnd(this.t('confirmEnd'))) return;
    this.socket.timeout(ACK_TIMEOUT_MS).emit('endConversation', { conversationId: session.conversationId }, (err: Error | null, ack?: Ack<object>) => {
      if (err || !ack) this.showError(this.t('reconnecting'));
      else if (ack.ok || ack.error.code === 'CONVERSATION_ENDED') this.markEnded();
      else this.showError(ack.error.message);
    });
  }

  private markEnded(): void {
    if (!this.session || this.panel.getAttribute('data-state') === 'ended') return;
    this.session.ended = true;
    this.saveSession();
    const hadFocus = this.root.getRootNode() instanceof ShadowRoot && (this.root.getRootNode() as ShadowRoot).activeElement !== null;
    this.setState('ended');
    this.announcer.textContent = this.t('ended');
    if (hadFocus) this.focusFirst();
  }

  /** GET /api/customer/transcript/:id/pdf with the customer token, saved as a file. */
  private async downloadTranscript(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      const res = await fetch(`${this.config.hub}/api/customer/transcript/${encodeURIComponent(session.conversationId)}/pdf`, { headers: { authorization: `Bearer ${session.token}` } });
      if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: `transcript-${session.conversationId}.pdf` });
      this.root.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      this.showError((err as Error).message);
    }
  }

  private newChat(): void {
    this.forget();
    this.focusFirst();
  }
}

const OPEN_FLAG = 'chathub:open';
function readFlag(key: string): boolean {
  try {
    return sessionStorage.getItem(key) === '1';
  } catch {
    return false;
  }
}
function writeFlag(key: string, on: boolean): void {
  try {
    if (on) sessionStorage.setItem(key, '1');
    else sessionStorage.removeItem(key);
  } catch {
    // Blocked storage: the widget just starts minimised.
  }
}

/** A plain confirm() unless the site turned it off (data-confirm-end="false"); tests use that. */
function confirmEnd(question: string): boolean {
  return script?.dataset['confirmEnd'] === 'false' || window.confirm(question);
}

// currentScript is only set while this script runs; read it first.
const script = (document.currentScript as HTMLScriptElement | null) ?? document.querySelector<HTMLScriptElement>('script[src*="widget"][data-hub], script[src$="/widget.js"]');
const boot = (): void => {
  if (document.querySelector('[data-chathub-widget]')) return;
  new Widget(readConfig(script));
};
if (document.body) boot();
else document.addEventListener('DOMContentLoaded', boot);
