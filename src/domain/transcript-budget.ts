/** What a transcript render may cost; past any of these the caller gets 422 UNPROCESSABLE. */
export interface RenderBudget {
  /** Wall-clock time the drawing may take before it is stopped. */
  timeoutMs: number;
  maxPages: number;
  /** Largest PDF, in bytes. */
  maxBytes: number;
}

export type BudgetKind = 'characters' | 'time' | 'pages' | 'bytes' | 'memory';

/**
 * A transcript was refused for its size or its cost: raised by the collector (characters), the
 * renderer (pages, bytes, memory) and the render pool (time); the service turns it into a HubError.
 */
export class TranscriptBudgetError extends Error {
  constructor(
    readonly budget: BudgetKind,
    readonly limit: number,
  ) {
    super(`transcript over its ${budget} budget (${limit})`);
    this.name = 'TranscriptBudgetError';
  }
}

function megabytes(bytes: number): string {
  return `${Math.round((bytes / 1_048_576) * 10) / 10} MB`;
}

/** The message a caller reads when its transcript is over a budget. */
export function budgetMessage(err: TranscriptBudgetError, forMail: boolean): string {
  switch (err.budget) {
    case 'characters':
      return `the conversation has more than ${err.limit} characters of text, more than this hub renders into a transcript`;
    case 'time':
      return `the transcript took longer than ${err.limit} ms to render and was stopped; it is too large for this hub's transcript budget`;
    case 'pages':
      return `the transcript would have more than ${err.limit} pages, more than this hub renders`;
    case 'bytes':
      return forMail
        ? `the transcript is larger than ${megabytes(err.limit)}, too large to mail; download it as a PDF instead`
        : `the transcript PDF would be larger than ${megabytes(err.limit)}, more than this hub renders`;
    case 'memory':
      return 'the transcript needed more memory than this hub gives a render and was stopped';
  }
}
