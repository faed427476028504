import { RetryableError } from './errors.js';
import type { DeliveryAck, HubMessage } from './protocol.js';

/** What an outbound handler returns: nothing (delivered), or the provider's id and, optionally, PENDING. */
export interface DeliveryResult {
  /** The provider's id for the sent message; the hub stores it in metadata. */
  externalId?: string;
  /** PENDING: the provider queued it and a later `reportStatus()` settles it. Default DELIVERED. */
  state?: 'DELIVERED' | 'PENDING';
}

/** Delivers one outbound message to the provider. */
export type MessageHandler = (message: HubMessage) => Promise<DeliveryResult | void> | DeliveryResult | void;

/** Raised when a handler outlives `handlerTimeoutMs`: answered retryable, since the delivery may simply be slow. */
export class HandlerTimeoutError extends RetryableError {
  constructor(ms: number) {
    super(`handler did not finish within ${ms} ms`);
    this.name = 'HandlerTimeoutError';
  }
}

/** The ack for a handler that returned `result`. */
export function ackForResult(result: DeliveryResult | void): DeliveryAck {
  const ack: DeliveryAck = { ok: true };
  if (!result) return ack;
  if (result.externalId !== undefined) ack.externalId = String(result.externalId);
  if (result.state === 'PENDING' || result.state === 'DELIVERED') ack.state = result.state;
  return ack;
}

/** The ack for a handler that threw `err`: RetryableError → retryable, anything else → failed for good. */
export function ackForError(err: unknown): DeliveryAck {
  const message = err instanceof Error ? err.message || err.name : String(err);
  if (err instanceof RetryableError) return { ok: false, error: { message, retryable: true } };
  return { ok: false, error: { message } };
}
