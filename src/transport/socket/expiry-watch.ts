/** Longest timer Node keeps (about 24.8 days); a later deadline is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One timer per socket, at the earliest expiry of the credentials it holds: when it fires and
 * the deadline has passed, `expired` runs (the caller tells the client and disconnects it).
 * Re-armed whenever the socket's credentials change; stopped on disconnect.
 */
export class ExpiryWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    /** The earliest expiry (ms since epoch) of the socket's credentials; undefined when none expires. */
    private readonly deadline: () => number | undefined,
    private readonly expired: () => void,
  ) {}

  /** (Re)sets the timer to the current deadline. */
  arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const at = this.deadline();
    if (at === undefined) return;
    const left = at - Date.now();
    this.timer = setTimeout(() => {
      const now = this.deadline();
      if (now !== undefined && now <= Date.now()) {
        this.stop();
        this.expired();
      } else this.arm();
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
    // The socket keeps the process alive, not its expiry.
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
