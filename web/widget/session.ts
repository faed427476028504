import type { WireMessage } from '../../src/contracts/wire.js';

export type { WireMessage };

/** A message typed here and not yet acknowledged by the hub: sent (again) with its clientMessageId. */
export interface Outgoing {
  clientMessageId: string;
  text: string;
}

/** What survives a reload and is shared by every tab of the site: the conversation and its token. */
export interface Session {
  conversationId: string;
  participantId: string;
  name: string;
  token: string;
  /** The highest seq seen, for joinConversation {afterSeq} after a reconnect. */
  lastSeq?: number;
  ended?: boolean;
  /** Typed while offline (or unacknowledged), so a reload does not lose them either. */
  outbox?: Outgoing[];
}

/** localStorage under a key per hub, channel and subject; a blocked storage (privacy mode) just forgets. */
export class SessionStore {
  constructor(private readonly key: string) {}

  load(): Session | undefined {
    try {
      const raw = localStorage.getItem(this.key);
      const parsed = raw ? (JSON.parse(raw) as Session) : undefined;
      return parsed && typeof parsed.token === 'string' && typeof parsed.conversationId === 'string' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  save(session: Session | undefined): void {
    try {
      if (session) localStorage.setItem(this.key, JSON.stringify(session));
      else localStorage.removeItem(this.key);
    } catch {
      // Storage full or blocked: the conversation still works in this page.
    }
  }

  /** Calls `listener` when another tab changes the session (started, ended, or a new chat). */
  watch(listener: () => void): void {
    addEventListener('storage', (event) => {
      if (event.key === this.key) listener();
    });
  }
}

/** A stable visitor id for init's refId when the pre-chat form asks no email. */
export function visitorId(): string {
  const key = 'chathub:visitor';
  try {
    const known = localStorage.getItem(key);
    if (known) return known;
    const id = `visitor-${crypto.randomUUID()}`;
    localStorage.setItem(key, id);
    return id;
  } catch {
    return `visitor-${crypto.randomUUID()}`;
  }
}
