import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { mongo } from 'mongoose';
import type { Participant } from '../../src/contracts/schemas.js';
import type { MessageDoc } from '../../src/storage/message.model.js';

/**
 * Seeds a long conversation straight into the store, shaped as the hub stores messages
 * (src/storage/message.model.ts): one conversation through the hub's API, thousands of
 * messages in a few seconds instead of minutes of sendMessage round trips.
 */

/** FerretDB hangs on very large commands: inserts stay at this many documents. */
export const SEED_BATCH = 200;
/** A marker only whispers carry, to prove none reached the PDF. */
export const WHISPER_MARKER = 'WHISPERMARK';

export interface SeedPlan {
  conversationId: string;
  customer: Participant;
  agent: Participant;
  /** A second agent who joins now and then (participantJoined activities). */
  colleague: Participant;
  refId: string;
  channel: string;
  /** Seq of the newest message already stored; seeded ones follow it. */
  afterSeq: number;
}

export interface SeedResult extends Counts {
  messages: number;
  batches: number;
  seconds: number;
  lastSeq: number;
}

/** A small seeded PRNG (mulberry32): every run draws the same conversation, so runs compare. */
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

const SHORT = ['ok', 'Thanks!', 'Danke!', 'Yes, exactly.', 'One moment please…', 'شكراً', '好的，谢谢', 'Alles klar 👍', 'No, that was all.', 'Hmm.'];
const SENTENCES = [
  'I was charged twice for my October invoice and would like to get one of the payments back.',
  'Could you check the status of order 4711-2025? The tracking page has not changed since Monday.',
  'Ich habe die Rechnung für Oktober doppelt bezahlt, können Sie mir das bitte erstatten?',
  'Meine Lieferadresse hat sich geändert: Schönhauser Allee 12, 10119 Berlin, Hinterhaus, 3. OG.',
  'مرحبا، لدي سؤال بخصوص فاتورتي الأخيرة، هل يمكنك مساعدتي؟',
  'شكراً جزيلاً على المساعدة السريعة، سأنتظر رسالة التأكيد.',
  '您好，我的订单还没有发货，请问什么时候可以收到？',
  '退款已经处理完毕，请在三到五个工作日内查收。',
  'The refund of 49.90 € has been issued and should reach your account within 3–5 business days.',
  'Let me forward this to our billing team; they usually answer within one business day.',
  'Please try clearing the cache of the app and signing in again, then tell me whether the error persists.',
  'Gern geschehen — عفواً — 不客气! Is there anything else I can do for you today?',
  'The error message says "payment method declined (code 51)" although the card works everywhere else.',
  'Straße, Äpfel, Öl und Übermut: all the umlauts come through fine on my side.',
];
const FILES = [
  { type: 'application/pdf', name: 'kontoauszug-oktober.pdf', contentUrl: 'https://files.example.org/u/42/kontoauszug-oktober.pdf' },
  { type: 'image/png', name: 'screenshot-error.png', contentUrl: 'https://files.example.org/u/42/screenshot-error.png' },
  { type: 'text/plain', name: 'log.txt', contentUrl: 'data:text/plain;base64,SGVsbG8sIHRoaXMgaXMgYSBzbWFsbCBsb2cgZmlsZS4K' },
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** Text of varying length: mostly one or two sentences, some one-word replies, some long multi-line ones. */
function chatText(rand: () => number): { text: string; multiLine: boolean } {
  const r = rand();
  if (r < 0.2) return { text: pick(rand, SHORT), multiLine: false };
  if (r < 0.75) return { text: Array.from({ length: 1 + Math.floor(rand() * 2) }, () => pick(rand, SENTENCES)).join(' '), multiLine: false };
  if (r < 0.92) return { text: Array.from({ length: 3 + Math.floor(rand() * 5) }, () => pick(rand, SENTENCES)).join(' '), multiLine: false };
  const lines = Array.from({ length: 2 + Math.floor(rand() * 6) }, () => pick(rand, rand() < 0.5 ? SHORT : SENTENCES));
  return { text: lines.join('\n'), multiLine: true };
}

/** What a seeded conversation holds, by kind. */
interface Counts {
  chat: number;
  whispers: number;
  activities: number;
  withAttachments: number;
  multiLine: number;
  textChars: number;
}

/** Message `i` of the plan: ~2% participantJoined, ~5% whispers, ~2% with attachments, the rest chat. */
function seededDoc(plan: SeedPlan, i: number, at: Date, rand: () => number, counts: Counts): MessageDoc {
  const id = randomUUID();
  const base = {
    _id: id,
    conversationId: plan.conversationId,
    seq: plan.afterSeq + 1 + i,
    to: [],
    audience: ['*'],
    refId: plan.refId,
    channel: plan.channel,
    state: 'DELIVERED' as const,
    metadata: {},
    timestamp: at,
    dedupKey: id,
  };
  const r = rand();
  if (r < 0.02) {
    counts.activities += 1;
    const who = rand() < 0.5 ? plan.colleague : plan.agent;
    return { ...base, type: 'ActivityMessage', from: who, tag: '', activityType: 'participantJoined', info: { participant: who } };
  }
  if (r < 0.07) {
    counts.whispers += 1;
    const text = `${WHISPER_MARKER} internal note for agents: ${pick(rand, SENTENCES)}`;
    return { ...base, type: 'ChatMessage', from: plan.agent, tag: 'whisper', text, attachments: [] };
  }
  const { text, multiLine } = chatText(rand);
  const attachments = r < 0.09 ? [pick(rand, FILES)] : [];
  counts.chat += 1;
  counts.textChars += text.length;
  if (multiLine) counts.multiLine += 1;
  if (attachments.length > 0) counts.withAttachments += 1;
  return { ...base, type: 'ChatMessage', from: rand() < 0.5 ? plan.customer : plan.agent, tag: '', text, attachments };
}

/**
 * Inserts `count` messages after `plan.afterSeq`, in batches of SEED_BATCH, one batch in flight
 * (as the hub's writer does). Times spread over the past hours (a few to 30 s apart), so a long
 * transcript also crosses a day or two, as a real one would.
 */
export async function seedMessages(collection: mongo.Collection<MessageDoc>, plan: SeedPlan, count: number, seed: number): Promise<SeedResult> {
  const rand = prng(seed);
  const counts: Counts = { chat: 0, whispers: 0, activities: 0, withAttachments: 0, multiLine: 0, textChars: 0 };
  const gaps = Array.from({ length: count }, () => 2000 + Math.floor(rand() * 28_000));
  let at = Date.now() - gaps.reduce((a, b) => a + b, 0);
  const started = performance.now();
  let batches = 0;
  for (let from = 0; from < count; from += SEED_BATCH) {
    const batch: MessageDoc[] = [];
    for (let i = from; i < Math.min(count, from + SEED_BATCH); i += 1) {
      at += gaps[i] ?? 0;
      batch.push(seededDoc(plan, i, new Date(at), rand, counts));
    }
    await collection.insertMany(batch, { ordered: false });
    batches += 1;
  }
  return { messages: count, ...counts, batches, seconds: (performance.now() - started) / 1000, lastSeq: plan.afterSeq + count };
}

/**
 * Reads the conversation the way TranscriptService does (visibleAfter: pages of `pageSize` by
 * seq, whispers and others' private messages left out), without drawing: the store's share of a render.
 */
export async function readLikeTranscript(
  collection: mongo.Collection<MessageDoc>,
  conversationId: string,
  viewerId: string,
  pageSize: number,
): Promise<{ seconds: number; pages: number; messages: number }> {
  const started = performance.now();
  let after = 0;
  let pages = 0;
  let messages = 0;
  for (;;) {
    const page = await collection
      .find({ conversationId, seq: { $gt: after }, audience: { $in: ['*', viewerId] }, tag: { $ne: 'whisper' } })
      .sort({ seq: 1 })
      .limit(pageSize)
      .toArray();
    pages += 1;
    messages += page.length;
    const last = page[page.length - 1];
    if (!last || page.length < pageSize) break;
    after = last.seq;
  }
  return { seconds: (performance.now() - started) / 1000, pages, messages };
}
