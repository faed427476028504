import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ChildLogReport } from '../common/child-runner.js';
import { connectChatPluginChannel } from '../common/chat-plugin-client.js';
import { errorText, progress } from '../common/client-util.js';
import { HubTarget } from '../common/hub-target.js';
import type { SeedApiConfig } from './seed-api-config.js';
import { runSeedIdentifyBench, type IdentifyRunResult } from './seed-identify-runner.js';
import { runSeedListBench, type ListRunResult } from './seed-list-runner.js';
import { runSeedRoundTripBench, type RoundTripResult } from './seed-roundtrip-runner.js';
import { runSeedWebhookBench, type WebhookRunResult } from './seed-webhook-runner.js';
import type { StartedHub } from '../common/server-procs.js';
import { fmt } from '../common/stats.js';
import { WebhookSink } from './webhook-sink.js';

export interface SeedApiResult {
  config: SeedApiConfig;
  webhooks?: WebhookRunResult | undefined;
  identify?: IdentifyRunResult | undefined;
  roundTrip?: RoundTripResult | undefined;
  list?: ListRunResult | undefined;
  /** Parts that failed before they had figures. */
  errors: string[];
  /** Warnings of the second hub process (the webhook run keeps its own). */
  hubLog?: ChildLogReport | undefined;
  seconds: number;
}

/** Starts and stops the case's hub processes; run.ts owns processes, databases and the report's memory figures. */
export interface SeedHubHost {
  storePid: number | undefined;
  /** A hub process on a fresh database, with `env` added to its environment. */
  start(label: string, env: NodeJS.ProcessEnv): Promise<StartedHub>;
  /** Records its memory and logs, stops it and drops its database. */
  finish(hub: StartedHub, label: string): Promise<void>;
}

/** Every authenticate of the case comes from 127.0.0.1: the per-IP limit (60/min) would refuse most of them. */
const LIMITS: NodeJS.ProcessEnv = { RATE_LIMIT_CHATPLUGIN_AUTH_PER_MINUTE: '1000000' };

/** Everything in a result that fails the case. */
export function seedApiProblems(result: SeedApiResult): string[] {
  return [
    ...result.errors,
    ...(result.webhooks?.problems ?? []).map((p) => `webhooks ${p}`),
    ...(result.identify?.problems ?? []).map((p) => `identify: ${p}`),
    ...(result.roundTrip?.problems ?? []).map((p) => `round trip: ${p}`),
    ...(result.list?.problems ?? []).map((p) => `messages.list: ${p}`),
  ];
}

/** Webhooks: a hub with WEBHOOK_URL pointing at a local sink that checks every signature. */
async function webhookPart(host: SeedHubHost, config: SeedApiConfig, result: SeedApiResult): Promise<void> {
  const secret = randomBytes(24).toString('hex');
  const sink = await WebhookSink.start(secret);
  try {
    const label = 'hub (seed API webhooks)';
    const hub = await host.start(label, { ...LIMITS, WEBHOOK_URL: sink.url, WEBHOOK_SECRET: secret });
    try {
      result.webhooks = await runSeedWebhookBench(new HubTarget(hub.child.pid, hub.url, hub.systemToken), hub.url, hub.systemToken, sink, host.storePid, config);
      result.webhooks.hubLog = hub.child.logs();
    } catch (err) {
      result.errors.push(`webhooks: ${errorText(err)}`);
    } finally {
      await host.finish(hub, label);
    }
  } finally {
    await sink.close();
  }
}

/**
 * contacts.identify, the chat plugin round trip and messages.list: a hub without webhooks, so no
 * outbox work blurs them. Identify goes first: it scans the conversations and messages
 * collections on the local store, so it would otherwise pay for the 5,000 listed messages.
 */
async function apiPart(host: SeedHubHost, config: SeedApiConfig, result: SeedApiResult): Promise<void> {
  const label = 'hub (seed API)';
  const hub = await host.start(label, LIMITS);
  try {
    const target = new HubTarget(hub.child.pid, hub.url, hub.systemToken);
    const channelId = await connectChatPluginChannel(hub.url, hub.systemToken, 'Bench website');
    try {
      result.identify = await runSeedIdentifyBench(target, hub.url, hub.systemToken, channelId, host.storePid, config.identifies);
    } catch (err) {
      result.errors.push(`identify: ${errorText(err)}`);
    }
    try {
      result.roundTrip = await runSeedRoundTripBench(target, hub.url, channelId, host.storePid, config.roundTrips);
    } catch (err) {
      result.errors.push(`round trip: ${errorText(err)}`);
    }
    try {
      result.list = await runSeedListBench(target, hub.url, hub.systemToken, channelId, host.storePid, config.listSize);
    } catch (err) {
      result.errors.push(`messages.list: ${errorText(err)}`);
    }
    result.hubLog = hub.child.logs();
  } finally {
    await host.finish(hub, label);
  }
}

/**
 * The seed API case (§6 endpoints and §7 webhooks over real HTTP and Socket.IO), on two hub
 * processes with fresh databases: one with webhooks on, one without. Fills `result` as it goes,
 * so a failure still leaves the figures of the parts before it.
 */
export async function runSeedApiCase(host: SeedHubHost, config: SeedApiConfig, result: SeedApiResult): Promise<void> {
  const started = performance.now();
  try {
    for (const [name, part] of [['webhooks', webhookPart], ['seed API endpoints', apiPart]] as const) {
      try {
        await part(host, config, result);
      } catch (err) {
        result.errors.push(`${name}: ${errorText(err)}`);
      }
    }
  } finally {
    result.seconds = (performance.now() - started) / 1000;
    progress(`seed API case took ${fmt(result.seconds, 1)} s`);
  }
}
