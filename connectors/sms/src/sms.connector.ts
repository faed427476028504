import { RetryableError } from '@chat-hub/connector-sdk';
import type { HubMessage } from '@chat-hub/connector-sdk/protocol';
import type { Logger } from 'pino';
import { SmsSendError, type OutboundSms, type SendOutcome } from './sms.provider.js';

/** The send half of the provider, as the outbound handler needs it. */
export interface SmsSender {
  send(sms: OutboundSms): Promise<SendOutcome>;
}

/** What an SMS can carry of a hub message: its text and attachments, addressed to the customer's number. */
export function outboundFromHubMessage(message: HubMessage): OutboundSms {
  return { messageId: message.id, to: message.refId, text: message.text, attachments: message.attachments };
}

/**
 * The handler for the hub's `messageArrived`: sends the SMS and translates the provider's answer
 * into the SDK's terms (a result, RetryableError for transient failures, Error for refusals).
 */
export function createOutboundHandler(sender: SmsSender, logger: Logger) {
  return async (message: HubMessage): Promise<{ externalId?: string; state?: 'PENDING' }> => {
    if (message.type !== 'ChatMessage') {
      // An activity (typing, participantJoined…) has no SMS form; acking it stops the hub retrying it.
      logger.debug({ messageId: message.id, activityType: message.activityType }, 'activity not sent as SMS');
      return {};
    }
    if (message.tag === 'whisper') throw new Error('a whisper is never sent to the customer');
    const log = logger.child({ messageId: message.id, conversationId: message.conversationId });
    try {
      const outcome = await sender.send(outboundFromHubMessage(message));
      log.info({ sid: outcome.externalId, state: outcome.state ?? 'DELIVERED' }, 'SMS accepted by the provider');
      return outcome;
    } catch (err) {
      if (err instanceof SmsSendError) {
        log.warn({ retryable: err.retryable, httpStatus: err.httpStatus, providerCode: err.providerCode, err: err.message }, 'SMS not sent');
        if (err.retryable) throw new RetryableError(err.message, { cause: err });
        throw err;
      }
      // Anything unexpected may pass: let the hub retry rather than fail the message for a bug's sake.
      log.error({ err }, 'SMS send crashed');
      throw new RetryableError(err instanceof Error ? err.message : String(err), { cause: err });
    }
  };
}
