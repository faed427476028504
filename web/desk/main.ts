/**
 * The agent desk: one page, served by the hub at /desk, speaking only the hub's public API
 * (Socket.IO events and the HTTP endpoints of docs/protocol.md) with an agent token.
 * Vanilla DOM, text only through textContent, no inline styles or scripts (strict CSP).
 */
import { io, type Socket } from 'socket.io-client';
import type { AgentView, ConversationInfo } from '../../src/contracts/events.js';
import type { WireConversation, WireMessage } from '../../src/contracts/wire.js';
import { HubApi, type SeedMessage } from './api.js';
import { byId, clear, el, shortTime } from './dom.js';

const TOKEN_KEY = 'desk.token';
const STATE_KEY = 'desk.state';
/** Catch-up asks from a little before the last seq (microseconds): 5 s, as docs/protocol.md advises. */
const CATCH_UP_MARGIN = 5_000_000;
const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOWN_MS = 4000;
const QUEUE_POLL_MS = 5000;

type AckAnswer = { ok: true; [key: string]: unknown } | { ok: false; error: { code: string; message: string } };

interface Me {
  id: string;
  name: string;
  skills: string[];
}

interface Conv {
  conversation: WireConversation;
  messages: Map<string, WireMessage>;
  unread: number;
  /** Older chat messages exist before what is held; `olderCursor` pages back through them. */
  hasMore: boolean;
  olderCursor: string | null;
  /** The agent was taken out of it (left, transferred away): read-only from then on. */
  gone: boolean;
  typing: { name: string; until: number } | null;
  /**
   * The afterSeq of a catch-up join in flight. Its conversationInfo is told from the one the hub
   * sends by itself at connect by the missing olderCursor and by holding only messages after it.
   */
  catchUpAfter: number | null;
}

/** A send not yet acknowledged: retried with the same clientMessageId after a reconnect. */
interface PendingSend {
  payload: Record<string, unknown>;
  conversationId: string;
}

const root = byId('desk');
const conversations = new Map<string, Conv>();
const pendingSends = new Map<string, PendingSend>();
let me: Me | null = null;
let api: HubApi | null = null;
let socket: Socket | null = null;
let selectedId: string | null = null;
let agentState: 'ready' | 'notReady' = 'notReady';
let queueTimer: ReturnType<typeof setInterval> | null = null;
let lastTypingSent = 0;
let everConnected = false;
let pdfUrl: string | null = null;
/** New conversations are announced only once the first batch after sign-in was shown. */
let everConnectedAnnounce = false;

// ---------------------------------------------------------------- token and sign-in

/** The agent token's claims (read, not verified: the hub verifies it on every use). */
function claimsOf(token: string): Me | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
    if (claims['aud'] !== 'agent' || typeof claims['sub'] !== 'string') return null;
    const skills = Array.isArray(claims['skills']) ? claims['skills'].filter((s): s is string => typeof s === 'string') : [];
    return { id: claims['sub'], name: typeof claims['name'] === 'string' ? claims['name'] : claims['sub'], skills };
  } catch {
    return null;
  }
}

/** A token from the URL fragment (`#token=…`, from `npm run agent-link`) wins; it is then removed from the address bar. */
function takeToken(): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, '', location.pathname + location.search);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showSignIn(error = ''): void {
  clear(root);
  root.dataset['view'] = 'signin';
  const main = el('main', { class: 'signin' });
  const form = el('form', { id: 'signin-form', 'aria-labelledby': 'signin-title' });
  const title = el('h1', { id: 'signin-title' }, 'Agent desk: sign in');
  const label = el('label', { for: 'token-input' }, 'Agent token');
  const input = el('input', { id: 'token-input', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const help = el('p', { id: 'token-help', class: 'help' }, 'Paste a token from your administrator, or open the link that npm run agent-link prints.');
  const button = el('button', { type: 'submit' }, 'Sign in');
  const message = el('p', { id: 'signin-error', role: 'alert' }, error);
  form.append(title, label, input, help, button, message);
  main.append(form);
  root.append(main);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!claimsOf(token)) {
      message.textContent = 'That is not an agent token.';
      input.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    start(token);
  });
  input.focus();
}

function signOut(error = ''): void {
  socket?.close();
  socket = null;
  if (queueTimer) clearInterval(queueTimer);
  queueTimer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(STATE_KEY);
  conversations.clear();
  pendingSends.clear();
  selectedId = null;
  everConnected = false;
  me = null;
  api = null;
  document.title = 'Agent desk';
  showSignIn(error);
}

// ---------------------------------------------------------------- layout

function buildDesk(): void {
  clear(root);
  root.dataset['view'] = 'desk';
  root.dataset['socket'] = 'connecting';
  root.dataset['state'] = agentState;

  const header = el('header', { class: 'topbar' });
  header.append(
    el('h1', {}, 'Agent desk'),
    el('span', { id: 'me', class: 'me' }, me ? `${me.name} (${me.id})` : ''),
    el('span', { id: 'connection', class: 'connection', role: 'status' }, 'Connecting…'),
    el('button', { id: 'ready-toggle', type: 'button', 'aria-pressed': 'false' }, 'Ready'),
    el('button', { id: 'sign-out', type: 'button' }, 'Sign out'),
  );
  const banner = el('p', { id: 'banner', class: 'banner', role: 'alert', hidden: true });

  const nav = el('nav', { class: 'sidebar', 'aria-label': 'Conversations' });
  nav.append(
    el('h2', { id: 'mine-title' }, 'My conversations'),
    el('ul', { id: 'mine', class: 'conv-list', 'aria-labelledby': 'mine-title' }),
    el('h2', { id: 'queue-title' }, 'Queue'),
    el('div', { id: 'queue', 'aria-labelledby': 'queue-title' }),
  );
  const main = el('main', { id: 'view', class: 'view', tabindex: '-1' });
  const layout = el('div', { class: 'layout' });
  layout.append(nav, main);
  const announcer = el('div', { id: 'announcer', class: 'visually-hidden', 'aria-live': 'polite', 'aria-atomic': 'true' });
  root.append(header, banner, layout, announcer);

  byId('ready-toggle').addEventListener('click', () => setAgentState(agentState === 'ready' ? 'notReady' : 'ready'));
  byId('sign-out').addEventListener('click', () => signOut());
  renderView();
}

function announce(text: string): void {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick, so screen readers announce repeats too.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

function setConnection(state: 'connecting' | 'connected' | 'reconnecting', text: string): void {
  root.dataset['socket'] = state;
  const status = document.getElementById('connection');
  if (status) status.textContent = text;
  const banner = document.getElementById('banner');
  if (banner) {
    banner.hidden = state !== 'reconnecting';
    banner.textContent = state === 'reconnecting' ? 'Connection lost: reconnecting… Messages you send are kept and go out when the connection is back.' : '';
  }
}

function renderAgentState(): void {
  root.dataset['state'] = agentState;
  const toggle = document.getElementById('ready-toggle');
  if (!toggle) return;
  toggle.setAttribute('aria-pressed', String(agentState === 'ready'));
  toggle.textContent = agentState === 'ready' ? 'Ready (click for not ready)' : 'Not ready (click for ready)';
}

// ---------------------------------------------------------------- conversations state

function customerName(c: WireConversation): string {
  const name = [c.customer.firstName, c.customer.lastName].filter(Boolean).join(' ');
  return name || c.customer.refId || 'Customer';
}

/** Holds a message once (merged by id; a newer copy, e.g. a delivery update, replaces it). */
function merge(conv: Conv, message: WireMessage): boolean {
  const had = conv.messages.has(message.id);
  conv.messages.set(message.id, message);
  return !had;
}

function ordered(conv: Conv): WireMessage[] {
  return [...conv.messages.values()].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || a.timestamp.localeCompare(b.timestamp));
}

function lastSeq(conv: Conv): number {
  let last = 0;
  for (const m of conv.messages.values()) if (m.seq !== undefined && m.seq > last) last = m.seq;
  return last;
}

/** A page of POST /messages.list as wire messages; their seq is estimated from the time (the hub's seq is microseconds). */
function fromSeed(seed: SeedMessage, conversation: WireConversation): WireMessage {
  const sender = conversation.participants.find((p) => p.id === seed.sender.id);
  const message: WireMessage = {
    id: seed.id,
    conversationId: seed.conversation_id,
    seq: Date.parse(seed.sent_at) * 1000,
    type: 'ChatMessage',
    from: { id: seed.sender.id, name: seed.sender.name ?? seed.sender.id, role: seed.from_contact ? 'customer' : (sender?.role ?? 'agent') },
    to: [],
    text: seed.content.text,
    refId: '',
    tag: seed.tag ?? '',
    channel: seed.source,
    state: seed.state.toUpperCase() as WireMessage['state'],
    metadata: seed.metadata,
    timestamp: seed.sent_at,
  };
  if (seed.content.attachments) message.attachments = seed.content.attachments;
  return message;
}

function onConversationInfo(info: ConversationInfo): void {
  const id = info.conversation.id;
  let conv = conversations.get(id);
  const isNew = !conv || conv.gone;
  if (!conv) {
    conv = { conversation: info.conversation, messages: new Map(), unread: 0, hasMore: false, olderCursor: null, gone: false, typing: null, catchUpAfter: null };
    conversations.set(id, conv);
  }
  conv.conversation = info.conversation;
  conv.conversation.participants = info.participants;
  conv.gone = false;
  const after = conv.catchUpAfter;
  const catchUp = after !== null && info.olderCursor === null && info.messages.every((m) => (m.seq ?? 0) > after);
  if (catchUp) conv.catchUpAfter = null;
  for (const m of info.messages) merge(conv, m);
  if (catchUp) {
    // More after this page: ask again from its last message.
    const pageLast = info.messages.at(-1)?.seq;
    if (info.hasMore && pageLast !== undefined) catchUpJoin(conv, pageLast);
  } else if (isNew) {
    conv.hasMore = info.hasMore;
    conv.olderCursor = info.olderCursor;
  }
  if (isNew && info.conversation.status !== 'ended' && everConnectedAnnounce) {
    announce(`New conversation with ${customerName(info.conversation)}`);
  }
  renderList();
  if (selectedId === id) renderView();
  else if (!selectedId && info.conversation.status !== 'ended') select(id, false);
  void refreshQueue();
}

function isMine(conv: Conv): boolean {
  return !conv.gone;
}

function aboutMe(message: WireMessage): boolean {
  const participant = message.info?.['participant'] as { id?: string } | undefined;
  return !!me && participant?.id === me.id;
}

function onMessageArrived(message: WireMessage): void {
  const conv = conversations.get(message.conversationId);
  if (!conv) return;
  if (message.type === 'ActivityMessage' && message.activityType === 'typing') {
    if (message.from.id === me?.id) return;
    conv.typing = { name: message.from.name, until: Date.now() + TYPING_SHOWN_MS };
    if (selectedId === conv.conversation.id) renderTyping();
    setTimeout(() => {
      if (conv.typing && conv.typing.until <= Date.now()) {
        conv.typing = null;
        if (selectedId === conv.conversation.id) renderTyping();
      }
    }, TYPING_SHOWN_MS + 50);
    return;
  }
  if (!merge(conv, message)) return;
  if (message.type === 'ChatMessage') {
    conv.typing = null;
    const visible = selectedId === conv.conversation.id && document.visibilityState === 'visible';
    if (!visible) conv.unread += 1;
    const whisper = message.tag === 'whisper' ? 'Whisper from' : 'New message from';
    announce(`${whisper} ${message.from.name}: ${(message.text ?? '').slice(0, 200)}`);
  } else if (message.activityType === 'endOfConversation') {
    conv.conversation.status = 'ended';
    conv.conversation.endedAt = String(message.info?.['endedAt'] ?? message.timestamp);
    announce(`The conversation with ${customerName(conv.conversation)} has ended`);
  } else if (message.activityType === 'participantLeft' && aboutMe(message)) {
    conv.gone = true;
    announce(`You are no longer in the conversation with ${customerName(conv.conversation)}`);
  } else if (message.activityType === 'handOff') {
    void refreshQueue();
  }
  renderList();
  if (selectedId === conv.conversation.id) renderView();
}

function onMessageUpdated(message: WireMessage): void {
  const conv = conversations.get(message.conversationId);
  if (!conv) return;
  merge(conv, message);
  if (message.state === 'FAILED') announce(`A message to ${customerName(conv.conversation)} could not be delivered`);
  if (selectedId === conv.conversation.id) renderView();
}

function updateTitle(): void {
  let unread = 0;
  for (const conv of conversations.values()) if (isMine(conv)) unread += conv.unread;
  document.title = unread > 0 ? `(${unread}) Agent desk` : 'Agent desk';
}

// ---------------------------------------------------------------- socket

function emitAck(event: string, payload: Record<string, unknown>, ms = 15_000): Promise<AckAnswer> {
  if (!socket) return Promise.resolve({ ok: false, error: { code: 'UNAVAILABLE', message: 'not connected' } });
  return (socket.timeout(ms).emitWithAck(event, payload) as Promise<AckAnswer>).catch(() => ({
    ok: false as const,
    error: { code: 'TIMEOUT', message: 'the hub did not answer in time' },
  }));
}

function catchUpJoin(conv: Conv, afterSeq: number): void {
  if (!me) return;
  conv.catchUpAfter = afterSeq;
  void emitAck('joinConversation', { conversationId: conv.conversation.id, id: me.id, afterSeq }).then((ack) => {
    if (!ack.ok) conv.catchUpAfter = null;
  });
}

function connect(token: string): void {
  socket = io({ auth: { token }, transports: ['websocket'] });
  socket.on('connect', () => {
    setConnection('connected', 'Connected');
    const wanted = (sessionStorage.getItem(STATE_KEY) as 'ready' | 'notReady' | null) ?? 'notReady';
    void setAgentState(wanted, false);
    if (everConnected) {
      // Back after a drop: catch up on every conversation held, from a little before the last message.
      for (const conv of conversations.values()) {
        if (conv.gone || conv.conversation.status === 'ended') continue;
        catchUpJoin(conv, Math.max(0, lastSeq(conv) - CATCH_UP_MARGIN));
      }
      for (const [clientMessageId, pending] of pendingSends) void deliver(clientMessageId, pending);
    }
    everConnected = true;
    setTimeout(() => {
      everConnectedAnnounce = true;
    }, 1000);
    void refreshQueue();
  });
  socket.on('disconnect', () => setConnection('reconnecting', 'Reconnecting…'));
  socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
    if (err.data?.code === 'UNAUTHORIZED' || /token/.test(err.message)) {
      signOut(`Signed out: ${err.message}. Sign in with a fresh token.`);
      return;
    }
    setConnection('reconnecting', `Cannot reach the hub (${err.message}); retrying…`);
    // A refusal by the hub's middleware is not retried by socket.io itself.
    if (socket && !socket.active) setTimeout(() => socket?.connect(), 3000);
  });
  socket.on('conversationInfo', onConversationInfo);
  socket.on('messageArrived', onMessageArrived);
  socket.on('messageUpdated', onMessageUpdated);
  socket.on('error', (err: { error?: { code?: string; message?: string } }) => {
    const text = err.error?.message ?? 'unknown error';
    if (err.error?.code === 'UNAUTHORIZED') {
      signOut(`Signed out: ${text}`);
      return;
    }
    actionStatus(`The hub refused an action: ${text}`);
  });
}

async function setAgentState(state: 'ready' | 'notReady', remember = true): Promise<void> {
  const ack = await emitAck('agentState', { state });
  if (!ack.ok) {
    actionStatus(`Could not change your state: ${ack.error.message}`);
    return;
  }
  const agent = ack['agent'] as AgentView;
  agentState = agent.state;
  if (remember) sessionStorage.setItem(STATE_KEY, agentState);
  renderAgentState();
  if (remember) announce(agentState === 'ready' ? 'You are ready for new conversations' : 'You are not ready: no new conversations');
}

function start(token: string): void {
  const claims = claimsOf(token);
  if (!claims) {
    signOut('The saved token is not an agent token.');
    return;
  }
  me = claims;
  api = new HubApi(token);
  agentState = (sessionStorage.getItem(STATE_KEY) as 'ready' | 'notReady' | null) ?? 'notReady';
  buildDesk();
  renderAgentState();
  connect(token);
  queueTimer = setInterval(() => void refreshQueue(), QUEUE_POLL_MS);
  byId('ready-toggle').focus();
}

// ---------------------------------------------------------------- list and queue

function renderList(): void {
  const list = document.getElementById('mine');
  if (!list) return;
  clear(list);
  const mine = [...conversations.values()].filter(isMine);
  if (mine.length === 0) list.append(el('li', { class: 'empty' }, 'None yet'));
  for (const conv of mine) {
    const c = conv.conversation;
    const item = el('li');
    const current = selectedId === c.id;
    const button = el('button', { type: 'button', class: 'conv', 'data-conversation-id': c.id, 'aria-current': current ? 'true' : undefined });
    button.append(el('span', { class: 'conv-name' }, customerName(c)));
    button.append(el('span', { class: 'conv-meta' }, [c.subject || 'general', c.channel, c.status === 'ended' ? 'ended' : ''].filter(Boolean).join(' · ')));
    if (conv.unread > 0) button.append(el('span', { class: 'badge', 'aria-label': `${conv.unread} unread` }, String(conv.unread)));
    button.addEventListener('click', () => select(c.id, true));
    item.append(button);
    list.append(item);
  }
  updateTitle();
}

async function refreshQueue(): Promise<void> {
  const box = document.getElementById('queue');
  if (!box || !api) return;
  let waiting: WireConversation[];
  try {
    waiting = await api.queued();
  } catch (err) {
    clear(box);
    box.append(el('p', { class: 'error' }, `Queue unavailable: ${(err as Error).message}`));
    return;
  }
  const bySubject = new Map<string, WireConversation[]>();
  for (const c of waiting) bySubject.set(c.subject, [...(bySubject.get(c.subject) ?? []), c]);
  for (const skill of me?.skills ?? []) if (!bySubject.has(skill)) bySubject.set(skill, []);
  clear(box);
  if (bySubject.size === 0) box.append(el('p', { class: 'empty' }, 'Nobody is waiting'));
  for (const [subject, list] of [...bySubject].sort(([a], [b]) => a.localeCompare(b))) {
    const section = el('section', { class: 'queue-subject', 'data-subject': subject });
    section.append(el('h3', {}, `${subject || 'general'} (${list.length})`));
    const ul = el('ul');
    for (const c of list) {
      const li = el('li');
      const since = c.queuedAt ?? c.createdAt;
      li.append(el('span', {}, `${customerName(c)}, waiting since ${shortTime(since)} `));
      const take = el('button', { type: 'button', class: 'take' }, 'Take');
      take.setAttribute('aria-label', `Take the conversation with ${customerName(c)}`);
      take.addEventListener('click', () => void takeFromQueue(c.id));
      li.append(take);
      ul.append(li);
    }
    section.append(ul);
    box.append(section);
  }
}

async function takeFromQueue(conversationId: string): Promise<void> {
  if (!me) return;
  selectedId = conversationId;
  const ack = await emitAck('joinConversation', { conversationId, id: me.id });
  if (!ack.ok) actionStatus(`Could not take it: ${ack.error.message}`);
  void refreshQueue();
}

function select(id: string, focusComposer: boolean): void {
  selectedId = id;
  const conv = conversations.get(id);
  if (conv) conv.unread = 0;
  renderList();
  renderView();
  if (focusComposer) (document.getElementById('text') ?? document.getElementById('view'))?.focus();
}

// ---------------------------------------------------------------- conversation view

function actionStatus(text: string): void {
  const status = document.getElementById('action-status');
  if (status) status.textContent = text;
  else announce(text);
}

function activityText(m: WireMessage): string {
  const info = m.info ?? {};
  const who = (info['participant'] as { name?: string } | undefined)?.name ?? m.from.name;
  switch (m.activityType) {
    case 'participantJoined':
      return `${who} joined`;
    case 'participantLeft':
      return info['reason'] === 'transfer' ? `${who} transferred the conversation` : `${who} left`;
    case 'handOff':
      return `Waiting in the queue for ${String(info['subject'] || 'general')}`;
    case 'noAgentAvailable':
      return `No agent available for ${String(info['subject'] || 'general')}`;
    case 'greetings':
      return `Greeting: ${String(info['text'] ?? '')}`;
    case 'endOfConversation':
      return `Conversation ended by ${m.from.name}`;
    default:
      return `${m.activityType ?? 'activity'} (${m.from.name})`;
  }
}

function deliveryLabel(m: WireMessage): string {
  if (m.state === 'PENDING') return 'Sending…';
  if (m.state === 'FAILED') return `Not delivered: ${String(m.metadata['error'] ?? 'unknown reason')}`;
  return 'Delivered';
}

function messageItem(conv: Conv, m: WireMessage): HTMLLIElement {
  if (m.type === 'ActivityMessage') {
    return el('li', { class: 'activity', 'data-id': m.id, 'data-activity': m.activityType }, activityText(m));
  }
  const mineMsg = m.from.id === me?.id;
  const role = m.from.role ?? 'agent';
  const classes = ['message', `from-${role === 'customer' ? 'customer' : 'staff'}`, mineMsg ? 'own' : '', m.tag === 'whisper' ? 'whisper' : ''];
  const li = el('li', { class: classes.filter(Boolean).join(' '), 'data-id': m.id, 'data-tag': m.tag, 'data-state': m.state });
  const head = el('p', { class: 'message-head' });
  head.append(el('span', { class: 'sender' }, mineMsg ? 'You' : m.from.name));
  if (m.tag === 'whisper') head.append(el('span', { class: 'whisper-label' }, 'Whisper, staff only'));
  head.append(el('time', { datetime: m.timestamp }, shortTime(m.timestamp)));
  li.append(head, el('p', { class: 'text' }, m.text ?? ''));
  for (const a of m.attachments ?? []) {
    const safe = /^https?:/i.test(a.contentUrl);
    const link = el('a', { href: safe ? a.contentUrl : undefined, target: '_blank', rel: 'noopener noreferrer' }, a.name);
    li.append(el('p', { class: 'attachment' }, 'Attachment: '), link);
  }
  // Delivery state matters where a connector carries the message (channels other than web).
  if (role !== 'customer' && m.tag !== 'whisper' && (m.state !== 'DELIVERED' || conv.conversation.channel !== 'web')) {
    const state = el('p', { class: `delivery delivery-${m.state.toLowerCase()}` }, deliveryLabel(m));
    if (m.state === 'FAILED') {
      const resend = el('button', { type: 'button', class: 'resend' }, 'Resend');
      resend.addEventListener('click', () => {
        resend.disabled = true;
        api?.resend(m.id).then(
          () => actionStatus('Sent again'),
          (err: Error) => {
            resend.disabled = false;
            actionStatus(`Resend failed: ${err.message}`);
          },
        );
      });
      state.append(' ', resend);
    }
    li.append(state);
  }
  return li;
}

function customerDetails(c: WireConversation): HTMLDListElement {
  const dl = el('dl', { id: 'customer', class: 'details' });
  const rows: [string, string | null | undefined][] = [
    ['Name', customerName(c)],
    ['Email', c.customer.email],
    ['Phone', c.customer.phone],
    ['Reference', c.customer.refId],
    ['Language', c.customer.language],
    ['Page', c.customer.url],
    ['Comment', c.customer.comment],
    ['Channel', c.channel],
    ['Subject', c.subject || 'general'],
    ['Started', new Date(c.createdAt).toLocaleString()],
  ];
  for (const [key, value] of Object.entries(c.customer.custom ?? {})) rows.push([key, value === null ? '' : String(value)]);
  for (const [term, value] of rows) {
    if (value === null || value === undefined || value === '') continue;
    dl.append(el('dt', {}, term), el('dd', {}, value));
  }
  return dl;
}

function renderTyping(): void {
  const line = document.getElementById('typing');
  const conv = selectedId ? conversations.get(selectedId) : undefined;
  if (!line) return;
  line.textContent = conv?.typing && conv.typing.until > Date.now() ? `${conv.typing.name} is typing…` : '';
}

function renderView(): void {
  const view = document.getElementById('view');
  if (!view) return;
  const conv = selectedId ? conversations.get(selectedId) : undefined;
  if (!conv) {
    clear(view);
    view.append(el('p', { class: 'empty' }, 'Select a conversation, or go ready to be given one.'));
    return;
  }
  const c = conv.conversation;
  const ended = c.status === 'ended';
  const readOnly = ended || conv.gone;
  // Keep what the agent was typing (and the focus) across re-renders of the same conversation.
  const old = document.getElementById('text') as HTMLTextAreaElement | null;
  const keep = old && view.dataset['conversationId'] === c.id ? { text: old.value, focused: document.activeElement === old } : null;
  const oldWhisper = document.getElementById('whisper') as HTMLInputElement | null;
  const keepWhisper = !!oldWhisper?.checked && view.dataset['conversationId'] === c.id;
  const keepFocusId = document.activeElement && view.contains(document.activeElement) ? document.activeElement.id : '';
  clear(view);
  view.dataset['conversationId'] = c.id;
  view.dataset['status'] = c.status;

  const section = el('section', { class: 'conversation', 'aria-labelledby': 'conv-title' });
  const head = el('div', { class: 'conv-head' });
  head.append(
    el('h2', { id: 'conv-title' }, customerName(c)),
    el('p', { id: 'conv-status', class: 'conv-status' }, conv.gone ? 'You are no longer in this conversation' : ended ? `Ended ${c.endedAt ? shortTime(c.endedAt) : ''}` : `${c.status}, ${c.subject || 'general'}`),
  );

  const thread = el('div', { class: 'thread' });
  if (conv.hasMore && conv.olderCursor) {
    const older = el('button', { id: 'older', type: 'button' }, 'Load older messages');
    older.addEventListener('click', () => void loadOlder(conv));
    thread.append(older);
  }
  // New messages are announced by #announcer (one live region), so the list itself is not live.
  const list = el('ol', { id: 'messages', class: 'messages', 'aria-label': 'Messages' });
  for (const m of ordered(conv)) list.append(messageItem(conv, m));
  thread.append(list, el('p', { id: 'typing', class: 'typing' }));

  const composer = el('form', { id: 'composer', class: 'composer', 'aria-label': 'Reply' });
  const label = el('label', { for: 'text' }, readOnly ? 'Message (read only)' : 'Message');
  const text = el('textarea', { id: 'text', rows: '3', disabled: readOnly, 'aria-describedby': 'composer-help' });
  const whisperLabel = el('label', { class: 'whisper-toggle' });
  const whisper = el('input', { id: 'whisper', type: 'checkbox', disabled: readOnly });
  whisper.checked = keepWhisper;
  whisperLabel.append(whisper, ' Whisper (only staff see it)');
  const help = el('p', { id: 'composer-help', class: 'help' }, 'Enter sends, Shift+Enter starts a new line.');
  const send = el('button', { type: 'submit', disabled: readOnly }, 'Send');
  composer.append(label, text, whisperLabel, send, help);
  if (keep) text.value = keep.text;
  composer.classList.toggle('whispering', whisper.checked);
  whisper.addEventListener('change', () => composer.classList.toggle('whispering', whisper.checked));
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendText(conv, text, whisper.checked);
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText(conv, text, whisper.checked);
    }
  });
  text.addEventListener('input', () => sendTyping(conv));
  thread.append(composer);

  const side = el('aside', { class: 'side', 'aria-label': 'Customer and actions' });
  side.append(el('h3', {}, 'Customer'), customerDetails(c), el('h3', {}, 'Actions'));
  if (!readOnly) side.append(transferForm(conv), actionButtons(conv));
  if (ended) side.append(transcriptTools(conv));
  side.append(el('p', { id: 'action-status', class: 'action-status', role: 'status' }));

  const body = el('div', { class: 'conv-body' });
  body.append(thread, side);
  section.append(head, body);
  view.append(section);
  renderTyping();
  list.scrollTop = list.scrollHeight;
  if (keep?.focused) text.focus();
  else if (keepFocusId) document.getElementById(keepFocusId)?.focus();
}

function transferForm(conv: Conv): HTMLFormElement {
  const form = el('form', { id: 'transfer', class: 'transfer' });
  const fieldset = el('fieldset');
  fieldset.append(el('legend', {}, 'Transfer'));
  const kindLabel = el('label', { for: 'transfer-kind' }, 'To');
  const kind = el('select', { id: 'transfer-kind' });
  kind.append(el('option', { value: 'subject' }, 'a subject (queue)'), el('option', { value: 'agent' }, 'an agent'));
  const targetLabel = el('label', { for: 'transfer-target' }, 'Subject or agent id');
  const target = el('input', { id: 'transfer-target', required: true, list: 'subjects', autocomplete: 'off' });
  const subjects = el('datalist', { id: 'subjects' });
  for (const s of new Set([...(me?.skills ?? []), conv.conversation.subject].filter(Boolean))) subjects.append(el('option', { value: s }));
  fieldset.append(kindLabel, kind, targetLabel, target, subjects, el('button', { type: 'submit' }, 'Transfer'));
  form.append(fieldset);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const to = target.value.trim();
    if (!to) return;
    const payload = kind.value === 'agent' ? { conversationId: conv.conversation.id, toAgentId: to } : { conversationId: conv.conversation.id, toSubject: to };
    void emitAck('transferConversation', payload).then((ack) => {
      if (!ack.ok) {
        actionStatus(`Transfer failed: ${ack.error.message}`);
        target.focus();
        return;
      }
      conv.gone = true;
      announce(`Transferred to ${to}`);
      afterLeaving(conv);
    });
  });
  return form;
}

function actionButtons(conv: Conv): HTMLDivElement {
  const box = el('div', { class: 'actions' });
  const leave = el('button', { id: 'leave', type: 'button' }, 'Leave');
  const end = el('button', { id: 'end', type: 'button', class: 'danger' }, 'End conversation');
  leave.addEventListener('click', () => {
    void emitAck('leaveConversation', { conversationId: conv.conversation.id }).then((ack) => {
      if (!ack.ok) return actionStatus(`Leave failed: ${ack.error.message}`);
      conv.gone = true;
      announce('You left the conversation');
      afterLeaving(conv);
    });
  });
  end.addEventListener('click', () => {
    if (!window.confirm(`End the conversation with ${customerName(conv.conversation)}?`)) return;
    void emitAck('endConversation', { conversationId: conv.conversation.id }).then((ack) => {
      if (!ack.ok) return actionStatus(`End failed: ${ack.error.message}`);
      conv.conversation.status = 'ended';
      conv.conversation.endedAt = String(ack['endedAt'] ?? new Date().toISOString());
      renderList();
      renderView();
      document.getElementById('transcript-pdf')?.focus();
      actionStatus('Conversation ended');
    });
  });
  box.append(leave, end);
  return box;
}

/** The conversation left the agent's hands: show the next one, focus the list. */
function afterLeaving(conv: Conv): void {
  const next = [...conversations.values()].find((c) => isMine(c) && c !== conv && c.conversation.status !== 'ended');
  selectedId = next ? next.conversation.id : null;
  renderList();
  renderView();
  (document.querySelector<HTMLElement>('#mine button') ?? document.getElementById('view'))?.focus();
}

function transcriptTools(conv: Conv): HTMLDivElement {
  const box = el('div', { id: 'transcript', class: 'transcript' });
  const pdf = el('button', { id: 'transcript-pdf', type: 'button' }, 'Download transcript (PDF)');
  const link = el('a', { id: 'transcript-link', hidden: true, download: `transcript-${conv.conversation.id}.pdf` }, 'Save the transcript PDF');
  pdf.addEventListener('click', () => {
    if (!api) return;
    pdf.disabled = true;
    actionStatus('Preparing the transcript…');
    api.transcriptPdf(conv.conversation.id).then(
      (blob) => {
        if (pdfUrl) URL.revokeObjectURL(pdfUrl);
        pdfUrl = URL.createObjectURL(blob);
        link.href = pdfUrl;
        link.hidden = false;
        link.click();
        pdf.disabled = false;
        actionStatus('Transcript downloaded');
      },
      (err: Error) => {
        pdf.disabled = false;
        actionStatus(`Transcript failed: ${err.message}`);
      },
    );
  });
  const mail = el('form', { id: 'transcript-mail', class: 'transcript-mail' });
  const toLabel = el('label', { for: 'mail-to' }, 'Mail to (empty: the customer’s address)');
  const to = el('input', { id: 'mail-to', type: 'email', autocomplete: 'email' });
  mail.append(toLabel, to, el('button', { type: 'submit' }, 'Send transcript by mail'));
  mail.addEventListener('submit', (event) => {
    event.preventDefault();
    api?.transcriptMail(conv.conversation.id, to.value.trim()).then(
      () => actionStatus('Transcript mailed'),
      (err: Error) => actionStatus(`Mail failed: ${err.message}`),
    );
  });
  const close = el('button', { id: 'close-conversation', type: 'button' }, 'Remove from my list');
  close.addEventListener('click', () => {
    conversations.delete(conv.conversation.id);
    afterLeaving(conv);
  });
  box.append(pdf, link, mail, close);
  return box;
}

async function loadOlder(conv: Conv): Promise<void> {
  if (!api || !conv.olderCursor) return;
  try {
    const page = await api.olderMessages(conv.conversation.id, conv.olderCursor);
    for (const seed of page.data) if (!conv.messages.has(seed.id)) conv.messages.set(seed.id, fromSeed(seed, conv.conversation));
    conv.olderCursor = page.pagination_data.previous_cursor;
    conv.hasMore = conv.olderCursor !== null;
    renderView();
    announce(`${page.data.length} older messages loaded`);
    (document.getElementById('older') ?? document.getElementById('messages'))?.focus();
  } catch (err) {
    actionStatus(`Older messages unavailable: ${(err as Error).message}`);
  }
}

function newClientMessageId(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function sendText(conv: Conv, box: HTMLTextAreaElement, whisper: boolean): void {
  const text = box.value.trim();
  if (!text || !me) return;
  const clientMessageId = newClientMessageId();
  const pending: PendingSend = {
    conversationId: conv.conversation.id,
    payload: { conversationId: conv.conversation.id, type: 'ChatMessage', from: { id: me.id, name: me.name }, text, tag: whisper ? 'whisper' : '', clientMessageId },
  };
  pendingSends.set(clientMessageId, pending);
  box.value = '';
  lastTypingSent = 0;
  void deliver(clientMessageId, pending);
}

/** Sends (or re-sends, same clientMessageId) until the hub acks; a refusal is shown, the text put back. */
async function deliver(clientMessageId: string, pending: PendingSend): Promise<void> {
  if (!socket?.connected) return; // sent again on reconnect
  const ack = await emitAck('sendMessage', pending.payload);
  const conv = conversations.get(pending.conversationId);
  if (ack.ok) {
    pendingSends.delete(clientMessageId);
    if (conv && merge(conv, ack['message'] as WireMessage) && selectedId === conv.conversation.id) renderView();
    return;
  }
  if (ack.error.code === 'TIMEOUT' || ack.error.code === 'UNAVAILABLE') return; // retried on reconnect
  pendingSends.delete(clientMessageId);
  actionStatus(`Not sent: ${ack.error.message}`);
  const box = document.getElementById('text') as HTMLTextAreaElement | null;
  if (box && selectedId === pending.conversationId && !box.value) box.value = String(pending.payload['text'] ?? '');
}

function sendTyping(conv: Conv): void {
  if (!socket?.connected || !me || Date.now() - lastTypingSent < TYPING_SEND_EVERY_MS) return;
  lastTypingSent = Date.now();
  socket.emit('sendMessage', { conversationId: conv.conversation.id, type: 'ActivityMessage', from: { id: me.id, name: me.name }, activityType: 'typing', info: {} }, () => undefined);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible' || !selectedId) return;
  const conv = conversations.get(selectedId);
  if (conv && conv.unread > 0) {
    conv.unread = 0;
    renderList();
  }
});

const initial = takeToken();
if (initial) start(initial);
else showSignIn();
