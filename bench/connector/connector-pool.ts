import { createConnectorLogger, HubConnector } from '@chat-hub/connector-sdk';
import type { HubMessage } from '@chat-hub/connector-sdk/protocol';
import { errorText } from '../common/client-util.js';

/** Warnings the SDK logged during the run (its info lines, one per delivery, are not wanted in a benchmark). */
export interface PoolWarnings {
  count: number;
  samples: string[];
}

export interface ConnectorPool {
  members: HubConnector[];
  warnings: PoolWarnings;
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const MAX_SAMPLES = 5;

/**
 * `size` SDK connectors registered as one pool for the `sms` channel. Each answers every
 * outbound message at once with an externalId (no provider behind it), after telling `seen`.
 */
export async function startConnectorPool(hubUrl: string, key: string, size: number, seen: (message: HubMessage) => void): Promise<ConnectorPool> {
  const warnings: PoolWarnings = { count: 0, samples: [] };
  const logger = createConnectorLogger({
    level: 'warn',
    connector: 'sms',
    destination: {
      write(line: string) {
        warnings.count += 1;
        if (warnings.samples.length < MAX_SAMPLES) warnings.samples.push(line.trim().slice(0, 300));
      },
    },
  });
  const members = Array.from({ length: size }, (_, i) => new HubConnector({ hubUrl, id: 'sms', name: `Bench SMS ${i + 1}`, key, logger }));
  for (const member of members) {
    member.onMessage((message) => {
      seen(message);
      return { externalId: `bench-${message.id}` };
    });
  }
  const close = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.close().catch(() => undefined)));
  };
  // start() keeps retrying while the hub is silent: bound it, so a broken hub fails the stage instead of hanging it.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`not registered within ${START_TIMEOUT_MS / 1000} s (${members.filter((m) => m.registered).length}/${size})`)),
      START_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([Promise.all(members.map((m) => m.start())), timeout]);
  } catch (err) {
    await close();
    throw new Error(`connector pool: ${errorText(err)}`);
  } finally {
    clearTimeout(timer);
  }
  return { members, warnings, close };
}
