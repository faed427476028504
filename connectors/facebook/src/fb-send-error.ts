/**
 * Graph API error codes that mean "try again later" (Meta's error reference and the Send API's
 * list): 1 unknown/temporary, 2 service unavailable, 4 app rate limit, 17 user rate limit,
 * 32 page rate limit, 341 application limit, 613 calls over the rate limit, 1200 temporary send failure.
 */
export const TRANSIENT_GRAPH_CODES: ReadonlySet<number> = new Set([1, 2, 4, 17, 32, 341, 613, 1200]);

/** A failed Send API call. `retryable` tells the hub to try again later; otherwise it is final. */
export class FbSendError extends Error {
  readonly retryable: boolean;
  /** Graph error code (100 invalid parameter, 10/551 user unavailable, 190 bad token…). */
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly status: number | undefined;
  readonly fbtraceId: string | undefined;

  constructor(
    message: string,
    details: { retryable: boolean; code?: number; subcode?: number; status?: number; fbtraceId?: string },
  ) {
    super(message);
    this.name = 'FbSendError';
    this.retryable = details.retryable;
    this.code = details.code;
    this.subcode = details.subcode;
    this.status = details.status;
    this.fbtraceId = details.fbtraceId;
  }
}

interface GraphErrorBody {
  message?: unknown;
  type?: unknown;
  code?: unknown;
  error_subcode?: unknown;
  fbtrace_id?: unknown;
  is_transient?: unknown;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Classifies a non-2xx Send API answer (`{error: {message, type, code, error_subcode, fbtrace_id}}`).
 * Retryable: any 5xx, 429, a transient/throttling code, or Graph's own `is_transient: true`.
 * Everything else (code 100 invalid parameter, 10 / 551 user unavailable, 190 token…) is permanent.
 */
export function classifyGraphError(status: number, body: unknown): FbSendError {
  const error = ((body as { error?: unknown } | null | undefined)?.error ?? {}) as GraphErrorBody;
  const code = num(error.code);
  const subcode = num(error.error_subcode);
  const fbtraceId = str(error.fbtrace_id);
  const retryable =
    status >= 500 || status === 429 || (code !== undefined && TRANSIENT_GRAPH_CODES.has(code)) || error.is_transient === true;
  const what = str(error.message) ?? `HTTP ${status}`;
  const label = code === undefined ? `HTTP ${status}` : `code ${code}${subcode === undefined ? '' : `/${subcode}`}`;
  const message = `Send API error (${label}): ${what}${fbtraceId ? ` [fbtrace_id ${fbtraceId}]` : ''}`;
  const details: ConstructorParameters<typeof FbSendError>[1] = { retryable, status };
  if (code !== undefined) details.code = code;
  if (subcode !== undefined) details.subcode = subcode;
  if (fbtraceId !== undefined) details.fbtraceId = fbtraceId;
  return new FbSendError(message, details);
}
