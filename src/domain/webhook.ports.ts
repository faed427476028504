import type { Conversation, StoredMessage } from './types.js';

/** The events an integrator's WEBHOOK_URL receives (CONTRACT §7). */
export type WebhookEventType = 'message.created' | 'message.updated' | 'conversation.ended';

/** How an event written with its cause (a message, a conversation's end) is emitted. */
export interface EmitOptions {
  /** The event's id, fixed when its cause was stored (so a re-emit after a crash is the same event). */
  id?: string | undefined;
  createdAt?: Date | undefined;
  /** Called once the event is in the outbox (or refused by it for good): its cause's marker may go. */
  settled?: (() => void) | undefined;
}

/** What any part of the hub calls to announce an event; a no-op when webhooks are off. */
export interface WebhookPort {
  emit(type: WebhookEventType, payload: Record<string, unknown>, options?: EmitOptions): void;
}

/** The port to hand out when WEBHOOK_URL is unset: nothing is stored, nothing is sent. */
export const NO_WEBHOOKS: WebhookPort = { emit: () => undefined };

export type WebhookEventState = 'pending' | 'delivered' | 'failed';

/** One event in the outbox (or, once settled, in its archive), as stored. */
export interface WebhookEventRecord {
  /** UUID v4, the same on every attempt. */
  id: string;
  type: WebhookEventType;
  payload: Record<string, unknown>;
  /** When the event happened. */
  createdAt: Date;
  state: WebhookEventState;
  /** Attempts started so far, counted when an attempt is claimed. */
  attempts: number;
  /** When the next attempt is due; while an attempt runs, the end of its lease. */
  nextAt: Date;
  lastError: string | null;
  deliveredAt: Date | null;
}

/** An event the outbox refused to store, and the database's reason. */
export interface WebhookRefusal {
  id: string;
  reason: string;
}

/** A pending event in due order, as the dispatcher's scan sees it. */
export interface WebhookDue {
  id: string;
  nextAt: Date;
}

/**
 * The webhook outbox in the database; implemented in storage/. The outbox holds pending events
 * only: a settled one (delivered, failed) moves to an archive, so what the dispatcher reads and
 * claims stays as small as the backlog. Changes that decide something are conditional on the
 * event's state and attempt, so hub processes sharing a database agree on them.
 */
export interface WebhookStore {
  /**
   * Inserts new events in one round trip; an id already stored (a retried insert) is not an
   * error. Resolves with the events the database refused as documents (the others are stored);
   * rejects when the outcome of the whole insert is unknown (UNAVAILABLE when unreachable).
   */
  insert(events: WebhookEventRecord[]): Promise<WebhookRefusal[]>;
  /** Which of `ids` the outbox or its archive holds (stored before, maybe delivered already). */
  known(ids: string[]): Promise<Set<string>>;
  /** Pending events by nextAt, due or not (leased ones show their lease end); at most `limit`. */
  pending(limit: number): Promise<WebhookDue[]>;
  /**
   * Takes the next attempt of a due event: only if it is pending and `nextAt <= now`, it sets
   * nextAt to `leaseUntil` and counts the attempt. Null when it is not due (or another process took it).
   */
  claim(id: string, now: Date, leaseUntil: Date): Promise<WebhookEventRecord | null>;
  /** Archives the event as delivered (a 2xx is the truth, whoever holds the attempt). */
  delivered(event: WebhookEventRecord, at: Date): Promise<void>;
  /** Schedules the next attempt, if `attempt` is still the event's latest. */
  retryAt(id: string, attempt: number, nextAt: Date, error: string): Promise<void>;
  /** Archives the event as failed if `attempt` is still its latest; false when nothing changed. */
  giveUp(event: WebhookEventRecord, error: string): Promise<boolean>;
  /** Hands back an attempt interrupted by shutdown: due now, and it does not count. */
  release(id: string, attempt: number, now: Date): Promise<void>;
}

/** One attempt of an event, as the sender puts it on the wire. */
export interface OutgoingWebhook {
  id: string;
  type: WebhookEventType;
  createdAt: Date;
  /** 1-based. */
  attempt: number;
  payload: Record<string, unknown>;
}

export type WebhookSendResult = { ok: true; status: number } | { ok: false; error: string };

/** Signs and sends one attempt; implemented over HTTP in adapters/. Never throws. */
export interface WebhookSender {
  /** Resolves with the outcome: ok for a 2xx answer; `signal` aborts the attempt (shutdown). */
  send(event: OutgoingWebhook, signal: AbortSignal): Promise<WebhookSendResult>;
}

/**
 * Events written with their cause: messages and conversations carrying a `pendingWebhook` marker
 * (their message.created / conversation.ended event not yet in the outbox); implemented in storage/.
 */
export interface EventMarkerStore {
  /** Messages still marked, stored before `before`; at most `limit`. */
  markedMessages(before: Date, limit: number): Promise<StoredMessage[]>;
  /** Conversations still marked, ended before `before`; at most `limit`. */
  markedConversations(before: Date, limit: number): Promise<Conversation[]>;
  /** Removes the markers of these messages (their events are in the outbox). */
  clearMessages(ids: string[]): Promise<void>;
  clearConversations(ids: string[]): Promise<void>;
}
