import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { assertNotExpired, type AgentPrincipal, type CustomerPrincipal, type Principal, type TokenService } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import { splitCustomFields, type InitRequest, type Participant } from '../contracts/schemas.js';
import type { ConversationCache } from './conversation-cache.js';
import { decodeCursor, invalidCursor, pageOf } from './cursor.js';
import type { HistoryCache } from './history-cache.js';
import { assertMayOpen, assertReplay, CONNECTOR_ONLY_CHANNELS, initIdentity } from './init-requests.js';
import { historyPage, JOIN_HISTORY_MAX_BYTES, oldestPage, readNewestWithin, wireBytes, type HistoryPage } from './join-history.js';
import { activityMessage, HUB_PARTICIPANT, SYSTEM_PARTICIPANT } from './message-factory.js';
import type { MessageWriter } from './message-writer.js';
import type { RoutingService } from './routing.service.js';
import type { ConversationFilter, ConversationStore, ListPosition, MessageStore, RealtimePort } from './ports.js';
import { isStaff, toWireMessage, type Conversation, type StoredMessage } from './types.js';

/** Conversations' cursor: (createdAt ms, id) of the last one on the page. */
function positionOf(cursor: string): ListPosition {
  const [time, id] = decodeCursor('c', cursor);
  if (typeof time === 'number' && Number.isFinite(time) && typeof id === 'string' && id.length <= 200) return { createdAt: new Date(time), id };
  throw invalidCursor();
}

export interface InitResult {
  conversationId: string;
  participant: Participant;
  requestId: string;
  timestamp: string;
  token: string;
}

/** A socket's standing in one conversation, fixed when it joins. */
export interface Membership {
  conversationId: string;
  participant: Participant;
  staff: boolean;
  /** Expiry of the token the join was made with (ms since epoch); undefined for the system token. */
  expiresAt: number | undefined;
  /** The customer or agent credential the join was made with, checked for revocation on every event; undefined for the system token. */
  credential?: CustomerPrincipal | AgentPrincipal | undefined;
}

export interface JoinResult {
  membership: Membership;
  conversation: Conversation;
  firstJoin: boolean;
}

export interface ConversationServiceOptions {
  greeting: string;
  historyLimit: number;
  /** How long a repeated requestId (same request) is answered with the conversation it opened. */
  requestIdReplayWindowMs: number;
  /** Bytes of JSON a join's history (conversationInfo) carries at most, besides its newest message. */
  joinHistoryMaxBytes?: number;
  /** Webhooks are on: each end stores its conversation.ended event with it (Conversation.pendingWebhook). */
  webhookEvents?: boolean | undefined;
}


/** Told once a conversation's end is stored, with who ended it. */
export type EndedListener = (conversation: Conversation, endedBy: Participant) => void;

/** Opens, joins and ends conversations: the Customer Channel API's lifecycle. */
export class ConversationService {
  private readonly endedListeners: EndedListener[] = [];
  /** History reads in flight, by conversation, viewer and view: concurrent joins of one viewer share one. */
  private readonly historyReads = new Map<string, Promise<StoredMessage[]>>();

  constructor(
    private readonly conversations: ConversationStore,
    private readonly messages: MessageStore,
    private readonly cache: ConversationCache,
    private readonly history: HistoryCache,
    private readonly writer: MessageWriter,
    private readonly realtime: RealtimePort,
    private readonly tokens: TokenService,
    private readonly routing: RoutingService,
    private readonly options: ConversationServiceOptions,
    private readonly log: Logger,
  ) {}

  /** Calls `listener` after every end this process stores (webhooks: conversation.ended). */
  onEnded(listener: EndedListener): void {
    this.endedListeners.push(listener);
  }

  /**
   * POST /api/customer/init: creates the conversation, or returns the one the same request with
   * this requestId opened before (within the replay window). `principal`: the caller's credential,
   * if any; only the system token opens connector channels and sets a trusted mail address.
   */
  async init(request: InitRequest, principal?: Principal): Promise<InitResult> {
    assertMayOpen(request, principal);
    const { key, initRequest } = initIdentity(request, principal);
    const customerId = randomUUID();
    const name = [request.firstName, request.lastName].filter(Boolean).join(' ');
    const id = randomUUID();
    const now = new Date();
    const conversation: Conversation = {
      id,
      channel: request.channel,
      status: 'queued',
      subject: request.subject ?? '',
      customer: {
        id: customerId,
        firstName: request.firstName,
        lastName: request.lastName,
        email: request.email,
        phone: request.phone,
        refId: request.refId ?? request.phone ?? request.email,
        language: request.language,
        url: request.url,
        comment: request.comment,
        custom: splitCustomFields(request),
      },
      participants: [{ id: customerId, name, role: 'customer' }],
      joined: [],
      requestId: key,
      initRequest,
      // Only a trusted backend vouches for an address; one a visitor typed is never mailed on their say.
      trustedEmail: principal?.kind === 'system' ? request.email : undefined,
      connector: CONNECTOR_ONLY_CHANNELS.has(request.channel) ? request.channel : undefined,
      openKey: id,
      createdAt: now,
      endedAt: null,
      // Straight into the subject's queue (§4), in arrival order.
      queuedAt: now,
      agent: null,
      previousAgentId: null,
      routingRev: 0,
    };
    const { conversation: stored, created } = await this.conversations.create(conversation);
    if (!created) {
      try {
        assertReplay(stored, initRequest.fingerprint, this.options.requestIdReplayWindowMs);
      } catch (err) {
        // A guessed or reused requestId: worth seeing in the log, once per refusal.
        this.log.warn({ conversationId: stored.id }, 'init refused: requestId already used for another request or outside the replay window');
        throw err;
      }
    }
    this.cache.put(stored);
    if (created) {
      this.history.track(stored.id);
      // The hand-off is stored before the answer, so the customer's conversationInfo shows it.
      await this.routing.opened(stored);
    }
    const participant = stored.participants.find((p) => p.role === 'customer') ?? { id: stored.customer.id, name, role: 'customer' as const };
    if (created) this.log.info({ conversationId: stored.id, channel: stored.channel, subject: stored.subject }, 'conversation opened');
    return {
      conversationId: stored.id,
      participant,
      requestId: stored.initRequest?.requestId ?? initRequest.requestId,
      timestamp: new Date().toISOString(),
      token: this.tokens.issueCustomerToken({ participantId: participant.id, conversationId: stored.id, name: participant.name, epoch: stored.resumeEpoch ?? 0 }),
    };
  }

  /** The conversation, from cache or store; NOT_FOUND when unknown. */
  async get(conversationId: string): Promise<Conversation> {
    const conversation = await this.cache.get(conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    return conversation;
  }

  /** GET /api/conversations: a page of conversations, oldest first, with an opaque cursor. */
  async list(filter: ConversationFilter, cursor: string | undefined, pageSize: number): Promise<{ data: Conversation[]; nextCursor: string | null }> {
    const after = cursor === undefined ? undefined : positionOf(cursor);
    const page = await this.conversations.list(filter, after, pageSize + 1);
    return pageOf(page, pageSize, 'c', (last) => [last.createdAt.getTime(), last.id]);
  }

  /** Checks that `principal` may join as participant `id`, and records the join. */
  async join(principal: Principal | undefined, conversationId: string, id: string, name: string | undefined): Promise<JoinResult> {
    if (!principal) throw new HubError('UNAUTHORIZED', 'a token is required to join: pass it in the handshake auth or as "token"');
    assertNotExpired(principal);
    let participant: Participant;
    if (principal.kind === 'customer') {
      if (principal.conversationId !== conversationId || principal.participantId !== id) {
        throw new HubError('FORBIDDEN', 'this token does not name this participant of this conversation');
      }
      participant = { id, name: principal.name, role: 'customer' };
    } else if (principal.kind === 'agent') {
      if (principal.agentId !== id) throw new HubError('FORBIDDEN', 'id must be the agent id named by the token');
      participant = { id, name: principal.name, role: 'agent' };
    } else {
      participant = { id, name: name || 'System', role: 'system' };
    }

    const existing = await this.cache.get(conversationId);
    if (!existing) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    if (principal.kind === 'customer') {
      // The customer keeps the name given at init.
      participant = existing.participants.find((p) => p.id === id) ?? participant;
    }
    const membership: Membership = {
      conversationId,
      participant,
      staff: isStaff(participant),
      expiresAt: principal.kind === 'system' ? undefined : principal.expiresAt,
      credential: principal.kind === 'system' ? undefined : principal,
    };
    // An ended conversation can be read, but joining it changes nothing.
    if (existing.status === 'ended') return { membership, conversation: existing, firstJoin: false };
    // A rejoin (reconnect, second tab) changes nothing either, so it costs no write. `joined`
    // only grows, so even a cached copy from another process cannot say "joined" wrongly.
    const activates = participant.role === 'agent' && existing.status === 'queued';
    if (!activates && existing.joined.includes(participant.id) && existing.participants.some((p) => p.id === participant.id)) {
      return { membership, conversation: existing, firstJoin: false };
    }
    const recorded = await this.conversations.recordJoin(conversationId, participant);
    if (!recorded) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    let conversation = recorded.conversation;
    if (participant.role === 'agent' && conversation.status === 'queued') {
      // An agent joining a waiting conversation takes it, unless the routing got there first.
      conversation = (await this.routing.pick(conversation, participant)) ?? (await this.conversations.findById(conversationId)) ?? conversation;
    }
    this.cache.put(conversation);
    return { membership, conversation, firstJoin: recorded.firstJoin };
  }

  /**
   * The latest messages the member may read, oldest first, within `historyLimit` messages and
   * `joinHistoryMaxBytes` of JSON (for conversationInfo), with a cursor for older ones.
   */
  async joinHistory(membership: Membership): Promise<HistoryPage> {
    const { conversationId, participant, staff } = membership;
    const limit = this.options.historyLimit;
    const maxBytes = this.options.joinHistoryMaxBytes ?? JOIN_HISTORY_MAX_BYTES;
    // One more than shown, to know whether older ones exist.
    const cached = this.history.visible(conversationId, participant.id, staff, limit + 1);
    if (cached) return historyPage(conversationId, cached, limit, maxBytes, staff);
    // Joins of one viewer that arrive together (tabs, reconnects, a join flood) share one read.
    const key = `${conversationId}\u0000${participant.id}\u0000${staff ? 's' : 'c'}`;
    let reading = this.historyReads.get(key);
    if (!reading) {
      reading = this.readLatest(conversationId, participant.id, staff, limit + 1, maxBytes).finally(() => this.historyReads.delete(key));
      this.historyReads.set(key, reading);
    }
    return historyPage(conversationId, await reading, limit, maxBytes, staff);
  }

  /**
   * Catch-up after a reconnect: the messages after `afterSeq` the member may read, oldest first,
   * within `historyLimit` messages and `joinHistoryMaxBytes` of JSON (the first one always), with
   * `hasMore` when more remain: joining again with the last seq shown gives the next page. Read
   * from the store (the source of truth), so it holds on any hub process.
   */
  async catchUp(membership: Membership, afterSeq: number): Promise<HistoryPage> {
    const { conversationId, participant, staff } = membership;
    const limit = this.options.historyLimit;
    const maxBytes = this.options.joinHistoryMaxBytes ?? JOIN_HISTORY_MAX_BYTES;
    // One more than shown, to know whether more remain.
    const after = await this.messages.visibleAfter(conversationId, participant.id, staff, afterSeq, limit + 1);
    return oldestPage(after, limit, maxBytes, staff);
  }

  /** The latest `count` messages the viewer may read, oldest first, read no further than one message past `maxBytes`. */
  private readLatest(conversationId: string, viewerId: string, staff: boolean, count: number, maxBytes: number): Promise<StoredMessage[]> {
    // Counted as historyPage counts, so its cut then knows older messages exist.
    return readNewestWithin((beforeSeq, limit) => this.messages.latestVisible(conversationId, viewerId, staff, limit, beforeSeq), count, maxBytes, (m) => wireBytes(m, staff));
  }

  /** After a first join: tells the others (participantJoined) and greets a customer. */
  async announceJoin(result: JoinResult, joinerSocketId: string): Promise<void> {
    if (!result.firstJoin || result.conversation.status === 'ended') return;
    const { conversation, membership } = result;
    const { participant } = membership;
    // Once-keys make each announcement exist at most once per participant, so announcing
    // again after a failure can never duplicate one that did land.
    const joined = activityMessage(conversation, participant, 'participantJoined', { participant }, [], `joined:${participant.id}:${conversation.routingRev ?? 0}`);
    const pending = [this.writer.write(joined, (stored) => this.realtime.deliver(toWireMessage(stored), stored.audience, joinerSocketId))];
    if (participant.role === 'customer') {
      const text = this.options.greeting.replace('{name}', participant.name);
      const greeting = activityMessage(conversation, HUB_PARTICIPANT, 'greetings', { text }, [participant], `greetings:${participant.id}`);
      pending.push(this.writer.write(greeting, (stored) => this.realtime.deliver(toWireMessage(stored), stored.audience)));
    }
    const outcomes = await Promise.allSettled(pending);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (!failed) return;
    // Not announced: forget the join, so the participant's next join announces it.
    this.cache.delete(conversation.id);
    await this.conversations.unrecordJoin(conversation.id, participant.id).catch(() => undefined);
    throw failed.reason;
  }

  /** Ends a conversation on behalf of its customer, a joined agent, or the system. */
  async end(principal: Principal | undefined, membership: Membership | undefined, conversationId: string): Promise<Conversation> {
    let ender: Participant;
    if (principal?.kind === 'system') ender = membership?.participant ?? SYSTEM_PARTICIPANT;
    else if (membership && (membership.participant.role === 'customer' || membership.participant.role === 'agent')) ender = membership.participant;
    else if (principal?.kind === 'customer' && principal.conversationId === conversationId) {
      ender = { id: principal.participantId, name: principal.name, role: 'customer' };
    } else if (!principal && !membership) throw new HubError('UNAUTHORIZED', 'a token is required to end a conversation');
    else throw new HubError('FORBIDDEN', 'only the customer, a joined agent or the system may end this conversation');

    const pendingWebhook = this.options.webhookEvents ? { id: randomUUID(), endedBy: ender } : undefined;
    const ended = await this.conversations.end(conversationId, new Date(), pendingWebhook);
    if (!ended) {
      const known = await this.conversations.findById(conversationId);
      if (!known) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
      throw new HubError('CONVERSATION_ENDED', 'the conversation has already ended');
    }
    this.cache.put(ended);
    // The end is stored: it happened, whatever becomes of the notice below.
    for (const listener of this.endedListeners) {
      try {
        listener(ended, ender);
      } catch (err) {
        this.log.error({ err, conversationId }, 'an ended listener failed');
      }
    }
    const notice = activityMessage(ended, ender, 'endOfConversation', { endedAt: ended.endedAt?.toISOString(), endedBy: ender });
    await this.writer.write(notice, (stored) => this.realtime.deliver(toWireMessage(stored), stored.audience));
    this.writer.forget(conversationId);
    this.history.forget(conversationId);
    this.log.info({ conversationId, endedBy: ender.role }, 'conversation ended');
    await this.routing.released(ended).catch((err: unknown) => this.log.warn({ err: (err as Error).message, conversationId }, 'could not free the agent slot'));
    return ended;
  }
}
