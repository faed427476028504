import { performance } from 'node:perf_hooks';
import { authenticateVisitor, listMessages, sendAsVisitor, type MessagePageView, type SeedMessageView } from '../common/chat-plugin-client.js';
import { failureSummary, progress } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { CpuMeter } from '../common/proc-probe.js';
import { LIST_BACK_PAGES, LIST_PAGE_SIZE, LIST_SEED_LANES } from './seed-api-config.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

export interface ListRunResult {
  /** Messages asked for, and accepted by chatplugin.send. */
  size: number;
  seeded: number;
  seedFailures: string;
  seedSeconds: number;
  seedLatency: LatencySummary;
  seedHubCpuPercent: number | undefined;
  seedStoreCpuPercent: number | undefined;
  /** Forward: no cursor, then next_cursor until it is null. */
  pages: number;
  listed: number;
  pageLatency: LatencySummary;
  /** pagination_data.total of the first page. */
  total: number | undefined;
  /** The last page's previous_cursor: the page before it. */
  previousFromEnd: number | undefined;
  /** Read back from the last page by previous_cursor (LIST_BACK_PAGES at most). */
  backPages: number;
  backLatency: LatencySummary;
  pagingSeconds: number;
  pagingHubCpuPercent: number | undefined;
  pagingStoreCpuPercent: number | undefined;
  /** Everything that contradicts "the pages, concatenated, are every message once, in order". */
  problems: string[];
}

/** More pages than this means the cursors do not advance. */
const PAGE_MARGIN = 5;

/** Fills one visitor's conversation with `size` messages from LIST_SEED_LANES senders; each lane's ids in its sending order. */
async function seed(baseUrl: string, visitor: { conversationId: string; token: string }, size: number): Promise<{ lanes: string[][]; results: PromiseSettledResult<SeedMessageView>[]; latencies: number[] }> {
  const lanes: string[][] = Array.from({ length: LIST_SEED_LANES }, () => []);
  const latencies: number[] = [];
  const step = Math.max(1, Math.floor(size / 5));
  // The first message alone: it queues the conversation for an agent, and the hub does not
  // coalesce concurrent first sends, so 64 of them would each try that (a scanned update apiece on the local store).
  const f0 = performance.now();
  const first = await sendAsVisitor(baseUrl, visitor, 'list 0.0 (#0)');
  latencies.push(performance.now() - f0);
  (lanes[0] as string[]).push(first.id);
  // Each lane sends one message after the other, so its ids must be listed in its order.
  let next = 1;
  const results: PromiseSettledResult<SeedMessageView>[] = [{ status: 'fulfilled', value: first }];
  let done = 1;
  await Promise.all(
    lanes.map(async (lane, laneNo) => {
      while (next < size) {
        const i = next;
        next += 1;
        const t0 = performance.now();
        try {
          const m = await sendAsVisitor(baseUrl, visitor, `list ${laneNo}.${lane.length} (#${i})`);
          latencies.push(performance.now() - t0);
          lane.push(m.id);
          results.push({ status: 'fulfilled', value: m });
        } catch (reason) {
          results.push({ status: 'rejected', reason });
        }
        done += 1;
        if (done % step === 0 && done < size) progress(`seed API list: ${fmt(done)}/${fmt(size)} messages sent`);
      }
    }),
  );
  return { lanes, results, latencies };
}

/** Checks the concatenated pages against what was sent: each once, nothing else, every lane's sends in their order, sent_at never going back. */
export function checkListing(listed: readonly SeedMessageView[], lanes: readonly string[][], problems: string[]): void {
  const position = new Map<string, number>();
  let repeats = 0;
  listed.forEach((m, i) => {
    if (position.has(m.id)) repeats += 1;
    else position.set(m.id, i);
  });
  if (repeats > 0) problems.push(`${repeats} messages appear more than once in the pages`);
  const sent = lanes.flat();
  const missing = sent.filter((id) => !position.has(id)).length;
  if (missing > 0) problems.push(`${missing} of ${sent.length} sent messages are missing from the pages`);
  const sentSet = new Set(sent);
  const extra = [...position.keys()].filter((id) => !sentSet.has(id)).length;
  if (extra > 0) problems.push(`${extra} listed messages were never sent by the bench`);
  let outOfOrder = 0;
  for (const lane of lanes) {
    let prev = -1;
    for (const id of lane) {
      const at = position.get(id);
      if (at === undefined) continue;
      if (at < prev) outOfOrder += 1;
      prev = at;
    }
  }
  if (outOfOrder > 0) problems.push(`${outOfOrder} messages are listed before a message their lane sent earlier`);
  let backwards = 0;
  for (let i = 1; i < listed.length; i += 1) if (Date.parse(listed[i]?.sent_at ?? '') < Date.parse(listed[i - 1]?.sent_at ?? '')) backwards += 1;
  if (backwards > 0) problems.push(`sent_at goes back ${backwards} times along the pages`);
}

async function timedPage(baseUrl: string, systemToken: string, conversationId: string, cursor: string | undefined, latencies: number[]): Promise<MessagePageView> {
  const t0 = performance.now();
  const page = await listMessages(baseUrl, systemToken, conversationId, LIST_PAGE_SIZE, cursor);
  latencies.push(performance.now() - t0);
  return page;
}

/**
 * messages.list: one chat plugin conversation filled with `size` messages through
 * chatplugin.send (LIST_SEED_LANES sequential senders), then paged forward with next_cursor
 * and back with previous_cursor (system token, page_size 100). A listing that misses, repeats
 * or reorders a message is a problem that fails the case.
 */
export async function runSeedListBench(hub: HubTarget, baseUrl: string, systemToken: string, channelId: string, storePid: number | undefined, size: number): Promise<ListRunResult> {
  const visitor = await authenticateVisitor(baseUrl, channelId);
  progress(`seed API list: filling conversation ${visitor.conversationId} with ${fmt(size)} messages (chatplugin.send, ${LIST_SEED_LANES} lanes)…`);
  let hubCpu = new CpuMeter(hub.pid);
  let storeCpu = new CpuMeter(storePid);
  const s0 = performance.now();
  const { lanes, results, latencies } = await seed(baseUrl, visitor, size);
  const seedSeconds = (performance.now() - s0) / 1000;
  const seeded = lanes.reduce((n, l) => n + l.length, 0);
  const problems: string[] = [];
  const result: ListRunResult = {
    size,
    seeded,
    seedFailures: failureSummary(results),
    seedSeconds,
    seedLatency: summarize(latencies),
    seedHubCpuPercent: hubCpu.percent(),
    seedStoreCpuPercent: storeCpu.percent(),
    pages: 0,
    listed: 0,
    pageLatency: summarize([]),
    total: undefined,
    previousFromEnd: undefined,
    backPages: 0,
    backLatency: summarize([]),
    pagingSeconds: 0,
    pagingHubCpuPercent: undefined,
    pagingStoreCpuPercent: undefined,
    problems,
  };
  progress(`seed API list: ${fmt(seeded)}/${fmt(size)} messages stored in ${fmt(seedSeconds, 1)} s (${fmt(seeded / seedSeconds)} msg/s)${result.seedFailures ? `; failures: ${result.seedFailures}` : ''}; paging by ${LIST_PAGE_SIZE}…`);
  if (seeded < size) problems.push(`only ${seeded} of ${size} messages could be sent: ${result.seedFailures}`);

  hubCpu = new CpuMeter(hub.pid);
  storeCpu = new CpuMeter(storePid);
  const p0 = performance.now();
  const forward: MessagePageView[] = [];
  const pageLatencies: number[] = [];
  const maxPages = Math.ceil(seeded / LIST_PAGE_SIZE) + PAGE_MARGIN;
  let cursor: string | undefined;
  let wrongTotals = 0;
  do {
    const page = await timedPage(baseUrl, systemToken, visitor.conversationId, cursor, pageLatencies);
    forward.push(page);
    if (forward.length === 1 && page.pagination_data.previous_cursor !== null) problems.push('the first page has a previous_cursor');
    if (page.pagination_data.total !== seeded) {
      wrongTotals += 1;
      if (wrongTotals === 1) problems.push(`page ${forward.length} says total ${page.pagination_data.total}, ${seeded} were sent`);
    }
    if (page.data.length === 0 && page.pagination_data.next_cursor !== null) problems.push(`page ${forward.length} is empty but has a next_cursor`);
    cursor = page.pagination_data.next_cursor ?? undefined;
    if (forward.length % 5 === 0) progress(`seed API list: ${forward.length} pages read forward`);
  } while (cursor !== undefined && forward.length < maxPages);
  if (wrongTotals > 1) problems.push(`${wrongTotals} pages in all had a wrong total`);
  if (cursor !== undefined) problems.push(`still a next_cursor after ${maxPages} pages`);
  const listed = forward.flatMap((p) => p.data);
  checkListing(listed, lanes, problems);

  // Back from the end: the last page's previous_cursor, and a few more; they must be the forward pages before it.
  const backLatencies: number[] = [];
  const back: MessagePageView[] = [];
  let previous = forward[forward.length - 1]?.pagination_data.previous_cursor ?? undefined;
  while (previous !== undefined && back.length < LIST_BACK_PAGES) {
    const page = await timedPage(baseUrl, systemToken, visitor.conversationId, previous, backLatencies);
    back.push(page);
    previous = page.pagination_data.previous_cursor ?? undefined;
  }
  const backIds = [...back].reverse().flatMap((p) => p.data.map((m) => m.id));
  const forwardIds = forward.slice(Math.max(0, forward.length - 1 - back.length), -1).flatMap((p) => p.data.map((m) => m.id));
  if (back.length < Math.min(LIST_BACK_PAGES, forward.length - 1)) problems.push(`paging back ended after ${back.length} pages (no previous_cursor)`);
  if (backIds.length !== forwardIds.length || backIds.some((id, i) => id !== forwardIds[i])) {
    problems.push(`the ${back.length} pages back by previous_cursor are not the ${forwardIds.length} messages before the last page, in order`);
  }

  result.pages = forward.length;
  result.listed = listed.length;
  result.total = forward[0]?.pagination_data.total;
  result.pageLatency = summarize(pageLatencies);
  result.previousFromEnd = backLatencies[0];
  result.backPages = back.length;
  result.backLatency = summarize(backLatencies);
  result.pagingSeconds = (performance.now() - p0) / 1000;
  result.pagingHubCpuPercent = hubCpu.percent();
  result.pagingStoreCpuPercent = storeCpu.percent();
  progress(
    `seed API list: ${result.pages} pages forward (${fmt(result.listed)} messages) p50/p99 ${fmt(result.pageLatency.p50, 1)}/${fmt(result.pageLatency.p99, 1)} ms, ` +
      `${result.backPages} back p50/p99 ${fmt(result.backLatency.p50, 1)}/${fmt(result.backLatency.p99, 1)} ms; ` +
      (problems.length ? `PROBLEMS: ${problems.join('; ')}` : 'every message once, in order'),
  );
  return result;
}
