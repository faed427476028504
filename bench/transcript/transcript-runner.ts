import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import mongoose, { type mongo } from 'mongoose';
import { PROJECT_ROOT } from '../../src/config.js';
import type { Participant } from '../../src/contracts/schemas.js';
import type { ConversationDoc } from '../../src/storage/conversation.model.js';
import type { MessageDoc } from '../../src/storage/message.model.js';
import type { AckResponse } from '../common/bench-events.js';
import type { ChildLogReport } from '../common/child-runner.js';
import { closeSockets, connectSocket, errorText, postJson, progress, sleep } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { readCpuSeconds, readProcMemory, resetPeakRss, RssSampler } from '../common/proc-probe.js';
import { fmt, mib } from '../common/stats.js';
import { readLikeTranscript, seedMessages, WHISPER_MARKER, type SeedResult } from './transcript-seed.js';

const run = promisify(execFile);

export interface TranscriptBenchConfig {
  /** Messages seeded per conversation, one conversation (and one case) each. */
  sizes: number[];
  /** Requests per conversation, one after the other. */
  runs: number;
}

/** Messages of the warm-up conversation. */
const WARMUP_MESSAGES = 20;

/** One GET of the PDF, timed from the request to the last byte, with the hub's memory around it. */
export interface TranscriptRun {
  run: number;
  /** The hub's first render: it loads its fonts then. */
  cold: boolean;
  firstByteSeconds: number;
  seconds: number;
  bytes: number;
  pages: number | undefined;
  /** "N entries" as the PDF's last line says (read with pdftotext; first run of a size only). */
  entries: number | undefined;
  rssBeforeBytes: number | undefined;
  /** Highest VmRSS sampled every 25 ms during the request. */
  peakRssBytes: number;
  rssSamples: number;
  /** The kernel's peak (VmHWM after resetting it to the RSS before the request); undefined where it cannot be reset. */
  hwmBytes: number | undefined;
  rssAfterBytes: number | undefined;
  hubCpuSeconds: number | undefined;
  storeCpuSeconds: number | undefined;
  /** Things wrong with the PDF (no %PDF, no %%EOF, a whisper in the text…); empty when all is well. */
  problems: string[];
}

export interface TranscriptCase {
  size: number;
  /** The small first conversation whose render loads the hub's fonts, so the measured ones are warm. */
  warmup: boolean;
  conversationId: string;
  seed: SeedResult | undefined;
  setupSeconds: number;
  /** Messages in the store's collection when the case renders (FerretDB scans all of them per page). */
  storeMessages: number | undefined;
  /** The same page-by-page reads as the hub's render, without drawing. */
  storeRead: { seconds: number; pages: number; messages: number } | undefined;
  runs: TranscriptRun[];
  error: string | undefined;
}

export interface TranscriptResult {
  config: TranscriptBenchConfig;
  pageSize: number;
  cases: TranscriptCase[];
  /** Warnings of the case's hub process (set by the caller, who owns the process). */
  hubLog?: ChildLogReport | undefined;
}

interface InitResponse {
  conversationId: string;
  participant: { id: string; name: string };
  token: string;
}

/** The hub's page size for transcript reads (config/default.json; no environment override exists). */
function hubPageSize(): number {
  const defaults = JSON.parse(readFileSync(join(PROJECT_ROOT, 'config', 'default.json'), 'utf8')) as { transcripts?: { pageSize?: number } };
  return defaults.transcripts?.pageSize ?? 200;
}

async function tool(command: string, args: string[]): Promise<string | undefined> {
  try {
    return (await run(command, args, { maxBuffer: 256 * 1024 * 1024 })).stdout;
  } catch {
    return undefined;
  }
}

/** Pages per pdfinfo; entries and leaks per pdftotext (poppler-utils; both optional). */
async function inspectPdf(file: string, withText: boolean, problems: string[]): Promise<{ pages?: number; entries?: number }> {
  const info = await tool('pdfinfo', [file]);
  const found = info ? Number(/^Pages:\s+(\d+)/m.exec(info)?.[1]) : Number.NaN;
  const pages = Number.isInteger(found) ? found : undefined;
  if (!withText) return pages === undefined ? {} : { pages };
  const text = await tool('pdftotext', ['-enc', 'UTF-8', file, '-']);
  if (text === undefined) return pages === undefined ? {} : { pages };
  if (text.includes(WHISPER_MARKER)) problems.push('a whisper is in the PDF');
  if (!text.includes('Conversation ended by')) problems.push('no "Conversation ended by" line');
  const entries = /([\d,]+) entries · generated/.exec(text)?.[1];
  return { ...(pages !== undefined && { pages }), ...(entries !== undefined && { entries: Number(entries.replace(/,/g, '')) }) };
}

/** GET the PDF with the system token, reading every byte, while sampling the hub's RSS. */
async function fetchPdf(hub: HubTarget, url: string, token: string, storePid: number | undefined, file: string, runNo: number, cold: boolean): Promise<TranscriptRun> {
  const rssBeforeBytes = readProcMemory(hub.pid)?.rssBytes;
  const hwmReset = resetPeakRss(hub.pid);
  const cpu0 = readCpuSeconds(hub.pid);
  const store0 = storePid === undefined ? undefined : readCpuSeconds(storePid);
  const sampler = new RssSampler(hub.pid, 25);
  const chunks: Uint8Array[] = [];
  let firstByteSeconds = Number.NaN;
  let seconds = Number.NaN;
  let peak = { peakBytes: 0, samples: 0 };
  const started = performance.now();
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(300_000) });
    firstByteSeconds = (performance.now() - started) / 1000;
    if (!res.ok || !res.body) throw new Error(`GET ${new URL(url).pathname} -> ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const reader = res.body.getReader();
    for (let part = await reader.read(); !part.done; part = await reader.read()) chunks.push(part.value);
    seconds = (performance.now() - started) / 1000;
  } finally {
    peak = sampler.stop();
  }
  const cpu1 = readCpuSeconds(hub.pid);
  const store1 = storePid === undefined ? undefined : readCpuSeconds(storePid);
  const after = readProcMemory(hub.pid);
  const pdf = Buffer.concat(chunks);
  const problems: string[] = [];
  if (pdf.subarray(0, 5).toString('latin1') !== '%PDF-') problems.push('does not start with %PDF-');
  if (!pdf.subarray(-32).toString('latin1').trimEnd().endsWith('%%EOF')) problems.push('does not end with %%EOF');
  await writeFile(file, pdf);
  const inspected = await inspectPdf(file, runNo === 1, problems);
  return {
    run: runNo,
    cold,
    firstByteSeconds,
    seconds,
    bytes: pdf.length,
    pages: inspected.pages,
    entries: inspected.entries,
    rssBeforeBytes,
    peakRssBytes: peak.peakBytes,
    rssSamples: peak.samples,
    hwmBytes: hwmReset ? after?.hwmBytes : undefined,
    rssAfterBytes: after?.rssBytes,
    hubCpuSeconds: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined,
    storeCpuSeconds: store0 !== undefined && store1 !== undefined ? store1 - store0 : undefined,
    problems,
  };
}

/** The messages collection through the driver: plain documents, as the hub's writer inserts them. */
function messagesOf(db: mongoose.Connection): mongo.Collection<MessageDoc> {
  return db.collection<MessageDoc>('messages') as unknown as mongo.Collection<MessageDoc>;
}

/** Waits until the hub stored the join announcements (they follow the join ack) and returns the newest seq. */
async function settledSeq(messages: mongo.Collection<MessageDoc>, conversationId: string, expected: number): Promise<number> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const docs = await messages.find({ conversationId }).sort({ seq: -1 }).toArray();
    if (docs.length >= expected || performance.now() > deadline) return docs[0]?.seq ?? 0;
    await sleep(100);
  }
}

/** Ends the conversation as an integration would: a socket with the system token, endConversation. */
async function endConversation(baseUrl: string, systemToken: string, conversationId: string): Promise<void> {
  const socket = await connectSocket(baseUrl, { token: systemToken }, 20_000);
  try {
    const ack = await new Promise<AckResponse>((resolve, reject) =>
      socket.timeout(30_000).emit('endConversation', { conversationId }, (err: Error | null, res: AckResponse) => (err ? reject(new Error('endConversation ack timed out')) : resolve(res))),
    );
    if (!ack.ok) throw new Error(`endConversation refused: ${ack.error?.code ?? '?'} ${ack.error?.message ?? ''}`);
  } finally {
    socket.disconnect();
  }
}

/**
 * One conversation: init over HTTP, customer and agent join over Socket.IO (the hub stores its
 * greeting and join announcements), `size` messages seeded into the store, ended over a socket.
 */
async function prepare(hub: HubTarget, baseUrl: string, systemToken: string, db: mongoose.Connection, size: number, c: TranscriptCase): Promise<string> {
  const started = performance.now();
  const init = await postJson<InitResponse>(`${baseUrl}/api/customer/init`, {
    firstName: 'Jürgen',
    lastName: 'Müller',
    email: `transcript-${size}@example.com`,
    channel: 'web',
  });
  c.conversationId = init.conversationId;
  const agent: Participant = { id: `transcript-agent-${size}`, name: 'Amira Haddad', role: 'agent' };
  const sockets = [
    await hub.joined(init.token, init.conversationId, init.participant.id, init.participant.name),
    await hub.joined(await hub.agentToken(agent.id, agent.name), init.conversationId, agent.id, agent.name),
  ];
  try {
    const messages = messagesOf(db);
    // greetings + the customer's participantJoined + the agent's
    const afterSeq = await settledSeq(messages, init.conversationId, 3);
    const conversation = await db.collection<ConversationDoc>('conversations').findOne({ _id: init.conversationId });
    if (!conversation) throw new Error(`conversation ${init.conversationId} is not in the store`);
    c.seed = await seedMessages(
      messages,
      {
        conversationId: init.conversationId,
        customer: { id: init.participant.id, name: init.participant.name, role: 'customer' },
        agent,
        colleague: { id: `transcript-colleague-${size}`, name: 'Li Wei', role: 'agent' },
        refId: conversation.customer.refId ?? '',
        channel: conversation.channel,
        afterSeq,
      },
      size,
      size,
    );
    // The hub's next seq is max(previous + 1, now in µs): the end notice must come after the seeded ones.
    if (c.seed.lastSeq >= Date.now() * 1000) throw new Error('seeded seqs ran past the hub clock');
  } finally {
    closeSockets(sockets);
  }
  await endConversation(baseUrl, systemToken, init.conversationId);
  c.storeMessages = await db.collection('messages').countDocuments({}, { maxTimeMS: 30_000 });
  c.setupSeconds = (performance.now() - started) / 1000;
  const s = c.seed;
  progress(
    `transcripts ${fmt(size)}: seeded ${fmt(s.messages)} messages (${fmt(s.chat)} chat, ${fmt(s.whispers)} whispers, ${fmt(s.activities)} participantJoined, ` +
      `${fmt(s.withAttachments)} with attachments) in ${s.batches} batches in ${fmt(s.seconds, 1)} s; ended over a system-token socket`,
  );
  return init.participant.id;
}

/**
 * The transcripts case: a small warm-up conversation (its render loads the fonts), then for each
 * size a fresh conversation and `runs` PDF downloads, one at a time.
 */
export async function runTranscriptBench(
  hub: HubTarget,
  baseUrl: string,
  systemToken: string,
  dbUri: string,
  storePid: number | undefined,
  tmpDir: string,
  config: TranscriptBenchConfig,
): Promise<TranscriptResult> {
  const result: TranscriptResult = { config, pageSize: hubPageSize(), cases: [] };
  const db = mongoose.createConnection(dbUri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 2 });
  let rendered = 0;
  try {
    await db.asPromise();
    for (const [size, warmup] of [[WARMUP_MESSAGES, true] as const, ...config.sizes.map((n) => [n, false] as const)]) {
      const c: TranscriptCase = { size, warmup, conversationId: '', seed: undefined, setupSeconds: 0, storeMessages: undefined, storeRead: undefined, runs: [], error: undefined };
      result.cases.push(c);
      try {
        const customerId = await prepare(hub, baseUrl, systemToken, db, size, c);
        const url = `${baseUrl}/api/customer/transcript/${c.conversationId}/pdf`;
        for (let i = 1; i <= (warmup ? 1 : config.runs); i += 1) {
          await sleep(500); // let the hub's heap settle after seeding and the previous render
          const r = await fetchPdf(hub, url, systemToken, storePid, join(tmpDir, `transcript-${size}-${i}.pdf`), i, rendered === 0);
          rendered += 1;
          c.runs.push(r);
          progress(
            `transcripts ${fmt(size)}${warmup ? ' (warm-up)' : ''} run ${i}: ${fmt(r.seconds, 2)} s (first byte ${fmt(r.firstByteSeconds, 2)} s), ${fmt(r.bytes)} bytes, ` +
              `${fmt(r.pages)} pages; RSS ${mib(r.rssBeforeBytes)} → peak ${mib(r.peakRssBytes)}${r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : ''}`,
          );
        }
        if (!warmup) c.storeRead = await readLikeTranscript(messagesOf(db), c.conversationId, customerId, result.pageSize);
      } catch (err) {
        c.error = errorText(err);
        progress(`transcripts ${fmt(size)} FAILED: ${c.error}`);
      }
    }
  } finally {
    await db.close(true).catch(() => undefined);
  }
  return result;
}
