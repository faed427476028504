import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { mongo } from 'mongoose';
import type { Participant } from '../../src/contracts/schemas.js';
import type { ContactDoc } from '../../src/storage/contact.model.js';
import type { ConversationDoc } from '../../src/storage/conversation.model.js';
import type { MessageDoc } from '../../src/storage/message.model.js';
import { progress } from '../common/client-util.js';
import { fmt } from '../common/stats.js';

/**
 * Grows one database straight through the driver (insertMany, several batches in flight) to a
 * number of stored messages, in documents shaped as the hub stores them: chat plugin
 * conversations of identified contacts (as contacts.identify opens them), each with an agent
 * (as a routing claim leaves it), ~100 messages each (participantJoined, chat, a few whispers,
 * endOfConversation when ended). Each step inserts only what the step before did not.
 */

export interface GrowthSeedConfig {
  /** Messages per conversation (the last size's conversations get what is left). */
  perConversation: number;
  /** Documents per insertMany. */
  batch: number;
  /** insertMany commands in flight at once. */
  inFlight: number;
}

/** One seeded conversation, as the measurements need it. */
export interface SeededConversation {
  id: string;
  /** Messages stored in it (seq 1..messages). */
  messages: number;
  /** ChatMessages among them (what messages.list counts with the system token). */
  chat: number;
  ended: boolean;
}

export interface SeededContact {
  id: string;
  externalId: string;
  /** Every conversation of the contact has ended (identify then opens a new one). */
  allEnded: boolean;
}

/** One step's inserts. */
export interface SeedStep {
  /** Messages stored after the step. */
  totalMessages: number;
  messages: number;
  conversations: number;
  contacts: number;
  /** All documents inserted by the step, and the commands. */
  docs: number;
  batches: number;
  seconds: number;
  docsPerSec: number;
  /** Stopped at the deadline before reaching the size asked for. */
  partial: boolean;
}

/** A deterministic PRNG (mulberry32): every run seeds the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const TEXTS = [
  'Hello, I have a question about my last invoice, could you have a look please?',
  'Sure, let me check that for you. Could you tell me the invoice number?',
  'It is INV-2025-10-4711, dated the 3rd of October.',
  'Thanks! I see two payments for it; I will refund one of them today.',
  'Ich habe die Rechnung für Oktober doppelt bezahlt, können Sie mir das bitte erstatten?',
  'مرحبا، لدي سؤال بخصوص فاتورتي الأخيرة، هل يمكنك مساعدتي؟',
  '您好，我的订单还没有发货，请问什么时候可以收到？',
  'ok',
  'Thanks!',
  'Is there anything else I can do for you today?',
  'The tracking page has not changed since Monday, is the parcel lost?',
  'Please try clearing the cache of the app and signing in again.',
];

/** Seeded agents: conversations are spread over this many. */
const AGENTS = 50;
/** Conversations per contact: each contact's older conversations have ended. */
const PER_CONTACT = 2;
/** Share of conversations (a contact's newest only) still open with their agent. */
const ACTIVE_SHARE = 0.1;
/** Seeded history starts this long before the seeding. */
const HISTORY_SPAN_MS = 180 * 24 * 3600 * 1000;
const PROGRESS_MS = 5000;

type Batch = { collection: 'messages' | 'conversations' | 'contacts'; docs: object[] };

export class GrowthSeeder {
  readonly conversations: SeededConversation[] = [];
  readonly contacts: SeededContact[] = [];
  /** Messages stored so far. */
  messages = 0;
  readonly tag = randomUUID().slice(0, 8);
  private readonly rand = prng(14);
  private readonly started = Date.now() - HISTORY_SPAN_MS;

  constructor(
    private readonly db: mongo.Db,
    /** The chat plugin channel (channels.connect) the conversations belong to. */
    readonly channelId: string,
    private readonly config: GrowthSeedConfig,
  ) {}

  static agentId(k: number): string {
    return `growth-agent-${k}`;
  }

  /** Inserts conversations (with their contacts) until `targetMessages` are stored, or until `deadline` (performance.now() ms). */
  async growTo(targetMessages: number, deadline: number): Promise<SeedStep> {
    const want = Math.max(0, targetMessages - this.messages);
    const t0 = performance.now();
    const step: SeedStep = { totalMessages: this.messages, messages: 0, conversations: 0, contacts: 0, docs: 0, batches: 0, seconds: 0, docsPerSec: 0, partial: false };
    if (want === 0) return step;
    const plannedDocs = want + Math.ceil(want / this.config.perConversation) * (1 + 1 / PER_CONTACT);
    progress(`growth: seeding ${fmt(want)} messages (→ ${fmt(targetMessages)}) in ~${fmt(Math.ceil(want / this.config.perConversation))} conversations, insertMany of ${fmt(this.config.batch)}, ${this.config.inFlight} in flight…`);
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let lastReport = t0;
    let docsAtReport = 0;
    const send = async (batch: Batch): Promise<void> => {
      while (inFlight.size >= this.config.inFlight) await Promise.race(inFlight);
      if (failure) throw failure;
      const p = this.db
        .collection(batch.collection)
        .insertMany(batch.docs as mongo.OptionalId<mongo.Document>[], { ordered: false })
        .then(() => {
          step.docs += batch.docs.length;
          step.batches += 1;
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      const now = performance.now();
      if (now - lastReport >= PROGRESS_MS) {
        const rate = ((step.docs - docsAtReport) * 1000) / (now - lastReport);
        progress(`growth: ${fmt(step.docs)}/${fmt(plannedDocs)} docs (${fmt(this.messages + step.messages)} messages stored or in flight), ${fmt(rate)} docs/s`);
        lastReport = now;
        docsAtReport = step.docs;
      }
    };
    const pending: Record<Batch['collection'], object[]> = { messages: [], conversations: [], contacts: [] };
    const flush = async (collection: Batch['collection'], force: boolean): Promise<void> => {
      const docs = pending[collection];
      if (docs.length === 0 || (!force && docs.length < this.config.batch)) return;
      pending[collection] = [];
      await send({ collection, docs });
    };
    try {
      while (step.messages < want) {
        if (performance.now() > deadline) {
          step.partial = true;
          progress(`growth: seeding budget spent at ${fmt(this.messages + step.messages)} of ${fmt(targetMessages)} messages; measuring at that size`);
          break;
        }
        const count = Math.min(this.config.perConversation, want - step.messages);
        const { conversation, contact, messages } = this.nextConversation(count);
        if (contact) {
          pending.contacts.push(contact);
          step.contacts += 1;
        }
        pending.conversations.push(conversation);
        step.conversations += 1;
        for (const m of messages) {
          pending.messages.push(m);
          if (pending.messages.length >= this.config.batch) await flush('messages', true);
        }
        step.messages += messages.length;
        await flush('conversations', false);
        await flush('contacts', false);
      }
      for (const c of ['contacts', 'conversations', 'messages'] as const) await flush(c, true);
      await Promise.all(inFlight);
    } finally {
      await Promise.allSettled(inFlight);
    }
    if (failure) throw failure;
    this.messages += step.messages;
    step.totalMessages = this.messages;
    step.seconds = (performance.now() - t0) / 1000;
    step.docsPerSec = step.seconds > 0 ? step.docs / step.seconds : 0;
    progress(
      `growth: ${fmt(step.docs)} docs (${fmt(step.messages)} messages, ${fmt(step.conversations)} conversations, ${fmt(step.contacts)} contacts) ` +
        `in ${fmt(step.seconds, 1)} s = ${fmt(step.docsPerSec)} docs/s; ${fmt(this.messages)} messages stored`,
    );
    return step;
  }

  /** The next conversation (and its contact when it is the contact's first), `count` messages, shaped as the hub stores them. */
  private nextConversation(count: number): { conversation: ConversationDoc; contact: ContactDoc | undefined; messages: MessageDoc[] } {
    const index = this.conversations.length;
    const contactIndex = Math.floor(index / PER_CONTACT);
    const newest = index % PER_CONTACT === PER_CONTACT - 1;
    // A contact's conversations follow one another in time: only the newest may still be open.
    const ended = !newest || this.rand() >= ACTIVE_SHARE;
    const createdAt = new Date(this.started + index * 60_000);
    let contact: ContactDoc | undefined;
    if (index % PER_CONTACT === 0) {
      const externalId = `growth-${this.tag}-${contactIndex}`;
      contact = { _id: randomUUID(), externalId, metadata: { name: `Growth Contact ${contactIndex}` }, createdAt, updatedAt: createdAt };
      this.contacts.push({ id: contact._id, externalId, allEnded: true });
    }
    const owner = this.contacts[contactIndex];
    if (!owner) throw new Error(`growth: contact ${contactIndex} missing`);
    if (!ended) owner.allEnded = false;
    const id = randomUUID();
    const name = `Growth Contact ${contactIndex}`;
    const customer: Participant = { id: randomUUID(), name, role: 'customer' };
    const k = index % AGENTS;
    const agent: Participant = { id: GrowthSeeder.agentId(k), name: `Growth Agent ${k}`, role: 'agent' };
    const messages: MessageDoc[] = [];
    let at = createdAt.getTime();
    let chat = 0;
    const base = (seq: number): Pick<MessageDoc, '_id' | 'conversationId' | 'seq' | 'to' | 'audience' | 'refId' | 'channel' | 'state' | 'metadata' | 'timestamp' | 'dedupKey'> => {
      const mid = randomUUID();
      at += 5000 + Math.floor(this.rand() * 25_000);
      return { _id: mid, conversationId: id, seq, to: [], audience: ['*'], refId: owner.externalId, channel: 'chat_plugin', state: 'DELIVERED', metadata: {}, timestamp: new Date(at), dedupKey: mid };
    };
    for (let seq = 1; seq <= count; seq += 1) {
      if (seq === 1) {
        const b = base(seq);
        messages.push({ ...b, type: 'ActivityMessage', from: agent, tag: '', activityType: 'participantJoined', info: { participant: agent }, dedupKey: `hub:joined:${agent.id}:1` });
      } else if (ended && seq === count && count > 2) {
        const b = base(seq);
        messages.push({ ...b, type: 'ActivityMessage', from: agent, tag: '', activityType: 'endOfConversation', info: { endedAt: new Date(at).toISOString(), endedBy: agent } });
      } else if (this.rand() < 0.05) {
        messages.push({ ...base(seq), type: 'ChatMessage', from: agent, tag: 'whisper', text: `internal note: ${TEXTS[seq % TEXTS.length] ?? ''}`, attachments: [] });
        chat += 1;
      } else {
        const from = seq % 2 === 0 ? customer : agent;
        messages.push({ ...base(seq), type: 'ChatMessage', from, tag: '', text: TEXTS[Math.floor(this.rand() * TEXTS.length)] ?? 'ok', attachments: [] });
        chat += 1;
      }
    }
    const conversation: ConversationDoc = {
      _id: id,
      channel: 'chat_plugin',
      status: ended ? 'ended' : 'active',
      subject: '',
      customer: { id: customer.id, firstName: name, refId: owner.externalId, custom: {} },
      participants: [customer, agent],
      joined: [customer.id, agent.id],
      requestId: `chatplugin:${id}`,
      channelId: this.channelId,
      contactId: owner.id,
      // An open conversation holds its contact's key in the channel; ending it frees the key (openKey = id).
      openKey: ended ? id : `contact:${owner.id}:${this.channelId}`,
      createdAt,
      endedAt: ended ? new Date(at) : null,
      queuedAt: null,
      agent,
      previousAgentId: null,
      routingRev: 1,
      participantsRev: 1,
      resumeEpoch: 0,
    };
    this.conversations.push({ id, messages: count, chat, ended });
    return { conversation, contact, messages };
  }
}
