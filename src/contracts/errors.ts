/** The one error catalogue of the hub: a string code and its HTTP status. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CONVERSATION_ENDED: 409,
  PAYLOAD_TOO_LARGE: 413,
  /** Extension: the request is well formed but cannot be carried out (e.g. no mail address known). */
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  /** Extension: a server the hub depends on (the SMTP server) refused or could not be reached. */
  BAD_GATEWAY: 502,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A field that failed validation, named by its dotted path. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** The only error type the domain throws; transports map `code` to the wire. */
export class HubError extends Error {
  readonly code: ErrorCode;
  readonly details: FieldIssue[] | undefined;

  constructor(code: ErrorCode, message: string, details?: FieldIssue[]) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** RATE_LIMITED with the seconds until a retry may succeed (HTTP sends them as Retry-After). */
export class RateLimitedError extends HubError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('RATE_LIMITED', message);
  }
}

/** The wire shape of a failed acknowledgement. */
export interface ErrorAck {
  ok: false;
  error: { code: ErrorCode; message: string; details?: FieldIssue[] };
}

/** Turns any thrown value into a HubError; unknown errors become INTERNAL without leaking their text. */
export function toHubError(err: unknown): HubError {
  if (err instanceof HubError) return err;
  return new HubError('INTERNAL', 'Internal error');
}

export function errorAck(err: HubError): ErrorAck {
  const error: ErrorAck['error'] = { code: err.code, message: err.message };
  if (err.details) error.details = err.details;
  return { ok: false, error };
}
