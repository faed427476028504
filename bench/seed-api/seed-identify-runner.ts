import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { identifyContact } from '../common/chat-plugin-client.js';
import { failureSummary, progress } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { CpuMeter } from '../common/proc-probe.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

export interface IdentifyRunResult {
  calls: number;
  identified: number;
  failures: string;
  /** POST /contacts.identify, request → answer, one call at a time. */
  latency: LatencySummary;
  /** The first and last tenth of the calls (the collections grow as the run goes on). */
  firstTenth: LatencySummary;
  lastTenth: LatencySummary;
  seconds: number;
  hubCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  problems: string[];
}

/**
 * contacts.identify with the system token, a new external_id each time, one call after the
 * other as a website backend makes them at each login: each creates a contact and opens its
 * conversation in the channel, and must answer with that conversation and a resume token.
 * One at a time, so the latency is a call's own and not a queue's.
 */
export async function runSeedIdentifyBench(hub: HubTarget, baseUrl: string, systemToken: string, channelId: string, storePid: number | undefined, count: number): Promise<IdentifyRunResult> {
  progress(`seed API identify: ${count} contacts.identify calls (new external_id each), one at a time…`);
  const tag = String(randomInt(1_000_000)).padStart(6, '0');
  const step = Math.max(1, Math.floor(count / 4));
  const hubCpu = new CpuMeter(hub.pid);
  const storeCpu = new CpuMeter(storePid);
  const latencies: number[] = [];
  const outcomes: PromiseSettledResult<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    try {
      const res = await identifyContact(baseUrl, systemToken, channelId, `bench-${tag}-${i}`);
      latencies.push(performance.now() - started);
      const open = res.conversations.find((c) => c.channel.id === channelId && c.status !== 'ended');
      if (!open?.resume_token) throw new Error('answered without an open conversation with a resume_token in the channel');
      if (res.contact.external_id !== `bench-${tag}-${i}`) throw new Error(`answered with external_id ${res.contact.external_id}`);
      outcomes.push({ status: 'fulfilled', value: undefined });
    } catch (reason) {
      outcomes.push({ status: 'rejected', reason });
    }
    if ((i + 1) % step === 0 && i + 1 < count) progress(`seed API identify: ${i + 1}/${count} calls`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const identified = outcomes.filter((o) => o.status === 'fulfilled').length;
  const failures = failureSummary(outcomes);
  const tenth = Math.max(1, Math.floor(latencies.length / 10));
  const result: IdentifyRunResult = {
    calls: count,
    identified,
    failures,
    latency: summarize(latencies),
    firstTenth: summarize(latencies.slice(0, tenth)),
    lastTenth: summarize(latencies.slice(-tenth)),
    seconds,
    hubCpuPercent: hubCpu.percent(),
    storeCpuPercent: storeCpu.percent(),
    problems: identified < count ? [`${count - identified} of ${count} contacts.identify calls failed: ${failures}`] : [],
  };
  progress(
    `seed API identify: ${identified}/${count} in ${fmt(seconds, 1)} s; p50/p99 ${fmt(result.latency.p50, 1)}/${fmt(result.latency.p99, 1)} ms ` +
      `(first tenth p50 ${fmt(result.firstTenth.p50, 1)}, last tenth p50 ${fmt(result.lastTenth.p50, 1)} ms); CPU hub/store ${fmt(result.hubCpuPercent)}/${fmt(result.storeCpuPercent)}%` +
      (result.problems.length ? `; PROBLEMS: ${result.problems.join('; ')}` : ''),
  );
  return result;
}
