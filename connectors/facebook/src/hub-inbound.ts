import { HubRequestError, type HubConnector } from '@chat-hub/connector-sdk';
import type { FbInboundMessage } from './fb-inbound.js';
import type { InboundOutcome } from './fb.webhooks.js';

/** Hub error codes a redelivery by Meta could never fix: the message itself is unacceptable. */
const PERMANENT_HUB_CODES = new Set(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE']);

/**
 * The webhook's port to the hub: relays one message and maps the hub's answer. Throws (so the
 * webhook answers 503 and Meta retries) when the hub is unreachable, slow, overloaded or failing.
 */
export function hubInbound(hub: Pick<HubConnector, 'sendInbound'>): (message: FbInboundMessage) => Promise<InboundOutcome> {
  return async (message) => {
    try {
      await hub.sendInbound(message);
      return 'stored';
    } catch (err) {
      if (err instanceof HubRequestError && PERMANENT_HUB_CODES.has(err.code)) return 'rejected';
      throw err;
    }
  };
}
