/**
 * The errors a connector sees from the SDK, and the one it throws itself
 * (`RetryableError`) to ask the hub to try a delivery again later.
 */

/**
 * Thrown by an outbound handler when delivery failed for a reason that may pass
 * (provider 5xx, timeout, network): the hub retries the message with backoff.
 * Any other error from a handler marks the message FAILED for good.
 */
export class RetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
  }
}

/** Field issues the hub attaches to a BAD_REQUEST ack. */
export interface HubErrorDetail {
  field: string;
  message: string;
}

/**
 * The hub answered a request with an error ack, or could not be reached in time
 * (`code` UNAVAILABLE). `code` is the hub's error code: BAD_REQUEST, UNAUTHORIZED,
 * FORBIDDEN, NOT_FOUND, CONFLICT, CONVERSATION_ENDED, PAYLOAD_TOO_LARGE,
 * RATE_LIMITED, INTERNAL, UNAVAILABLE.
 */
export class HubRequestError extends Error {
  readonly code: string;
  readonly details: HubErrorDetail[] | undefined;

  constructor(code: string, message: string, details?: HubErrorDetail[]) {
    super(message);
    this.name = 'HubRequestError';
    this.code = code;
    this.details = details;
  }
}

/** The hub refused the connector's key: retrying cannot help, so the SDK stops reconnecting. */
export class ConnectorAuthError extends Error {
  readonly code = 'UNAUTHORIZED';

  constructor(message: string) {
    super(message);
    this.name = 'ConnectorAuthError';
  }
}
